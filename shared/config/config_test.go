package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(envmap.Env{}.Getenv)
	require.NoError(t, err)
	require.Equal(t, 8080, c.Port)
	require.Equal(t, 4, c.WorkerCount)
	require.Equal(t, 500, c.BatchSize)
	require.Equal(t, 10000, c.MaxBatch)
	require.Equal(t, int64(6<<20), c.MaxBodyBytes)
	require.Equal(t, "logagg:events", c.Stream)
	require.Equal(t, "logagg", c.Group)
	require.Equal(t, 30*time.Second, c.ClaimIdle)
	require.Equal(t, 5*time.Second, c.IdleInTxTimeout)
	require.Empty(t, c.APIKeys)
	require.Empty(t, c.PprofAddr)
	require.Equal(t, 10*time.Second, c.ReadHeaderTimeout)
	require.Equal(t, 30*time.Second, c.IdleTimeout)
	require.Equal(t, 30*time.Second, c.BodyReadTimeout)
	require.Equal(t, int64(16*6<<20), c.InflightBodyBytes)
	require.Empty(t, c.AllowedOrigins)
	require.Zero(t, c.Retention, "events are kept for ever")
	require.Zero(t, c.DedupWindow, "keys are kept for ever")
	require.Equal(t, 7*24*time.Hour, c.PartitionInterval)
	require.Zero(t, c.DuplicateAuditRetention)
	require.Zero(t, c.DeadLetterRetention)
	require.Equal(t, 168*time.Hour, c.LedgerRetention)
	require.Equal(t, 10*time.Minute, c.MaintenanceInterval)
	require.False(t, c.AllowEviction)
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(envmap.Env{
		"DATABASE_URL":                   "postgres://u:p@db:5432/x",
		"REDIS_URL":                      "redis://cache:6379/1",
		"PORT":                           "9090",
		"WORKER_COUNT":                   "0",
		"BATCH_SIZE":                     "1",
		"API_KEYS":                       " a, b ,,c ",
		"CLAIM_IDLE":                     "2s",
		"DB_IDLE_IN_TRANSACTION_TIMEOUT": "1500ms",
		"LOG_LEVEL":                      "DEBUG",
		"PPROF_ADDR":                     "127.0.0.1:6060",
		"READ_HEADER_TIMEOUT":            "2s",
		"IDLE_TIMEOUT":                   "1s",
		"BODY_READ_TIMEOUT":              "500ms",
		"MAX_BODY_BYTES":                 "4096",
		"ALLOWED_ORIGINS":                "https://ops.example.com, http://127.0.0.1:3000",
		"REDIS_ALLOW_EVICTION":           "true",
	}.Getenv)
	require.NoError(t, err)
	require.Equal(t, 9090, c.Port)
	require.Equal(t, 0, c.WorkerCount)
	require.Equal(t, 1, c.BatchSize)
	require.Equal(t, []string{"a", "b", "c"}, c.APIKeys)
	require.Equal(t, 2*time.Second, c.ClaimIdle)
	require.Equal(t, 1500*time.Millisecond, c.IdleInTxTimeout)
	require.Equal(t, "debug", c.LogLevel)
	require.Equal(t, "127.0.0.1:6060", c.PprofAddr)
	require.NoError(t, c.Require("DATABASE_URL", "REDIS_URL"))
	require.Equal(t, 2*time.Second, c.ReadHeaderTimeout)
	require.Equal(t, time.Second, c.IdleTimeout)
	require.Equal(t, 500*time.Millisecond, c.BodyReadTimeout)
	require.Equal(t, int64(16*4096), c.InflightBodyBytes, "the default follows MAX_BODY_BYTES")
	require.Equal(t, []string{"https://ops.example.com", "http://127.0.0.1:3000"}, c.AllowedOrigins)
	require.True(t, c.AllowEviction)

	c, err = Load(envmap.Env{"MAX_BODY_BYTES": "4096", "INFLIGHT_BODY_BYTES": "4096", "DB_IDLE_IN_TRANSACTION_TIMEOUT": "0"}.Getenv)
	require.NoError(t, err)
	require.Equal(t, int64(4096), c.InflightBodyBytes)
	require.Zero(t, c.IdleInTxTimeout, "0 turns it off")
	c, err = Load(envmap.Env{"DB_IDLE_IN_TRANSACTION_TIMEOUT": "0ms"}.Getenv)
	require.NoError(t, err)
	require.Zero(t, c.IdleInTxTimeout, "so does 0 with a unit")
}

func TestRetentionSettings(t *testing.T) {
	t.Parallel()
	_, err := Load(envmap.Env{"PARTITION_INTERVAL": "1h0m30s"}.Getenv)
	require.ErrorContains(t, err, "PARTITION_INTERVAL")
	require.ErrorContains(t, err, "whole number of minutes")

	c, err := Load(envmap.Env{
		"RETENTION":                 "720h",
		"DEDUP_WINDOW":              "2160h",
		"PARTITION_INTERVAL":        "6h",
		"DUPLICATE_AUDIT_RETENTION": "168h",
		"DEAD_LETTER_RETENTION":     "90m",
		"LEDGER_RETENTION":          "96h",
		"MAINTENANCE_INTERVAL":      "1m",
	}.Getenv)
	require.NoError(t, err)
	require.Equal(t, 720*time.Hour, c.Retention)
	require.Equal(t, 2160*time.Hour, c.DedupWindow)
	require.Equal(t, 6*time.Hour, c.PartitionInterval)
	require.Equal(t, 168*time.Hour, c.DuplicateAuditRetention)
	require.Equal(t, 90*time.Minute, c.DeadLetterRetention)
	require.Equal(t, 96*time.Hour, c.LedgerRetention)
	require.Equal(t, time.Minute, c.MaintenanceInterval)

	c, err = Load(envmap.Env{"RETENTION": "24h", "DEDUP_WINDOW": "24h"}.Getenv)
	require.NoError(t, err, "a window as long as the retention is enough")
	require.Equal(t, c.Retention, c.DedupWindow)

	// Retentions are thought of in days.
	c, err = Load(envmap.Env{"RETENTION": "30d", "DEDUP_WINDOW": "90d", "PARTITION_INTERVAL": "1d", "LEDGER_RETENTION": "3d12h"}.Getenv)
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, c.Retention)
	require.Equal(t, 90*24*time.Hour, c.DedupWindow)
	require.Equal(t, 24*time.Hour, c.PartitionInterval)
	require.Equal(t, 84*time.Hour, c.LedgerRetention)
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90m": 90 * time.Minute, "0": 0, "0d": 0, "7d": 168 * time.Hour, "1d12h": 36 * time.Hour, "2d30m": 48*time.Hour + 30*time.Minute,
	} {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"d", "1.5d", "-1d", "+1d", "1d-1h", "1dd", "1d2d", "d1h", "7 d", "99999d"} {
		_, err := parseDuration(in)
		require.Error(t, err, in)
	}
}

// 0 keeps a record for ever, however it is written, LEDGER_RETENTION's
// default of 168h included.
func TestZeroRetentionKeepsForEver(t *testing.T) {
	t.Parallel()
	for _, zero := range []string{"0", "0s", "0h"} {
		c, err := Load(envmap.Env{
			"RETENTION": zero, "DEDUP_WINDOW": zero, "DUPLICATE_AUDIT_RETENTION": zero,
			"DEAD_LETTER_RETENTION": zero, "LEDGER_RETENTION": zero,
		}.Getenv)
		require.NoError(t, err, zero)
		require.Zero(t, c.Retention)
		require.Zero(t, c.DedupWindow)
		require.Zero(t, c.DuplicateAuditRetention)
		require.Zero(t, c.DeadLetterRetention)
		require.Zero(t, c.LedgerRetention, "LEDGER_RETENTION=%s", zero)
	}
}

// Keys must be remembered at least as long as their events are kept, or a
// duplicate of a stored event would be stored again: the error names both
// settings.
func TestDedupWindowShorterThanRetentionIsRefused(t *testing.T) {
	t.Parallel()
	for _, env := range []envmap.Env{
		{"RETENTION": "720h", "DEDUP_WINDOW": "168h"},
		{"DEDUP_WINDOW": "168h"}, // RETENTION unset keeps events for ever
		{"RETENTION": "0", "DEDUP_WINDOW": "168h"},
	} {
		_, err := Load(env.Getenv)
		require.Error(t, err, "%v", env)
		require.ErrorContains(t, err, "DEDUP_WINDOW")
		require.ErrorContains(t, err, "at least RETENTION")
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"PORT":         "http",
		"WORKER_COUNT": "-1",
		"BATCH_SIZE":   "0",
		"MAX_BATCH":    "lots",
		"CLAIM_IDLE":   "30",
		"LOG_LEVEL":    "loud",
		"DATABASE_URL": "mysql://x@y/z",
		"REDIS_URL":    "127.0.0.1:6379",
		"PPROF_ADDR":   "6060",
		"IDLE_TIMEOUT": "0s",

		"DB_IDLE_IN_TRANSACTION_TIMEOUT": "-1s",
		"REDIS_ALLOW_EVICTION":           "yes",

		"BODY_READ_TIMEOUT":   "soon",
		"READ_HEADER_TIMEOUT": "-1s",
		"INFLIGHT_BODY_BYTES": "1024", // below MAX_BODY_BYTES: the largest body could never be read
		"ALLOWED_ORIGINS":     "https://ops.example.com/dashboard",
		"WRITE_TIMEOUT":       "30s", // not longer than BODY_READ_TIMEOUT: a body read in time could not be answered

		"RETENTION":                 "1.5d", // days are whole
		"DEDUP_WINDOW":              "-1h",
		"DUPLICATE_AUDIT_RETENTION": "a week",
		"DEAD_LETTER_RETENTION":     "-5m",
		"LEDGER_RETENTION":          "7",
		"PARTITION_INTERVAL":        "30m", // below store.MinPartitionInterval
		"MAINTENANCE_INTERVAL":      "0",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(envmap.Env{name: value}.Getenv)
			require.Error(t, err)
			require.Contains(t, err.Error(), name)
		})
	}
}

func TestErrorsNeverShowPasswords(t *testing.T) {
	t.Parallel()
	_, err := Load(envmap.Env{"DATABASE_URL": "mysql://user:s3cret@db/x"}.Getenv)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

func TestRequire(t *testing.T) {
	t.Parallel()
	c, err := Load(envmap.Env{}.Getenv)
	require.NoError(t, err)
	err = c.Require("DATABASE_URL", "REDIS_URL")
	require.ErrorContains(t, err, "DATABASE_URL is required")
	require.ErrorContains(t, err, "REDIS_URL is required")
}
