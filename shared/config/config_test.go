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
	require.Empty(t, c.APIKeys)
	require.Empty(t, c.PprofAddr)
	require.Equal(t, 10*time.Second, c.ReadHeaderTimeout)
	require.Equal(t, 30*time.Second, c.IdleTimeout)
	require.Equal(t, 30*time.Second, c.BodyReadTimeout)
	require.Equal(t, int64(16*6<<20), c.InflightBodyBytes)
	require.Empty(t, c.AllowedOrigins)
	require.False(t, c.AllowEviction)
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(envmap.Env{
		"DATABASE_URL":         "postgres://u:p@db:5432/x",
		"REDIS_URL":            "redis://cache:6379/1",
		"PORT":                 "9090",
		"WORKER_COUNT":         "0",
		"BATCH_SIZE":           "1",
		"API_KEYS":             " a, b ,,c ",
		"CLAIM_IDLE":           "2s",
		"LOG_LEVEL":            "DEBUG",
		"PPROF_ADDR":           "127.0.0.1:6060",
		"READ_HEADER_TIMEOUT":  "2s",
		"IDLE_TIMEOUT":         "1s",
		"BODY_READ_TIMEOUT":    "500ms",
		"MAX_BODY_BYTES":       "4096",
		"ALLOWED_ORIGINS":      "https://ops.example.com, http://127.0.0.1:3000",
		"REDIS_ALLOW_EVICTION": "true",
	}.Getenv)
	require.NoError(t, err)
	require.Equal(t, 9090, c.Port)
	require.Equal(t, 0, c.WorkerCount)
	require.Equal(t, 1, c.BatchSize)
	require.Equal(t, []string{"a", "b", "c"}, c.APIKeys)
	require.Equal(t, 2*time.Second, c.ClaimIdle)
	require.Equal(t, "debug", c.LogLevel)
	require.Equal(t, "127.0.0.1:6060", c.PprofAddr)
	require.NoError(t, c.Require("DATABASE_URL", "REDIS_URL"))
	require.Equal(t, 2*time.Second, c.ReadHeaderTimeout)
	require.Equal(t, time.Second, c.IdleTimeout)
	require.Equal(t, 500*time.Millisecond, c.BodyReadTimeout)
	require.Equal(t, int64(16*4096), c.InflightBodyBytes, "the default follows MAX_BODY_BYTES")
	require.Equal(t, []string{"https://ops.example.com", "http://127.0.0.1:3000"}, c.AllowedOrigins)
	require.True(t, c.AllowEviction)

	c, err = Load(envmap.Env{"MAX_BODY_BYTES": "4096", "INFLIGHT_BODY_BYTES": "4096"}.Getenv)
	require.NoError(t, err)
	require.Equal(t, int64(4096), c.InflightBodyBytes)
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

		"REDIS_ALLOW_EVICTION": "yes",

		"BODY_READ_TIMEOUT":   "soon",
		"READ_HEADER_TIMEOUT": "-1s",
		"INFLIGHT_BODY_BYTES": "1024", // below MAX_BODY_BYTES: the largest body could never be read
		"ALLOWED_ORIGINS":     "https://ops.example.com/dashboard",
		"WRITE_TIMEOUT":       "30s", // not longer than BODY_READ_TIMEOUT: a body read in time could not be answered
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
