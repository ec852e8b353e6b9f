package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/store"
)

// partitionExists reports whether databaseURL's database has the table.
func partitionExists(t *testing.T, databaseURL, name string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists))
	return exists
}

// waitUntil polls done until it holds, failing the test after 30 s.
func waitUntil(t *testing.T, done func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		require.True(t, time.Now().Before(deadline), "timed out waiting: %s", what)
		time.Sleep(20 * time.Millisecond)
	}
}

// localrun maintains the store in the background: a first pass at start
// drops the partition that RETENTION has passed, and the next passes, every
// MAINTENANCE_INTERVAL, drop what has aged since. /metrics counts the
// passes and the events dropped.
func TestMaintenanceDropsWhatRetentionHasPassed(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t)
	// Daily partitions, so that the records seeded days back lie outside
	// the partition for now.
	env["PARTITION_INTERVAL"] = "24h"
	st, err := store.Open(context.Background(), env["DATABASE_URL"], store.Options{MaxConns: 2, PartitionInterval: 24 * time.Hour})
	require.NoError(t, err)
	st.Close() // migrated: the seed needs the tables
	first := testenv.SeedAged(t, env["DATABASE_URL"], 72*time.Hour, 4)
	env["RETENTION"], env["DEDUP_WINDOW"] = "24h", "48h"
	env["DUPLICATE_AUDIT_RETENTION"], env["DEAD_LETTER_RETENTION"], env["LEDGER_RETENTION"] = "24h", "24h", "24h"
	env["MAINTENANCE_INTERVAL"] = "1s"
	url := startInProcess(t, env)

	dropped := func(a testenv.Aged, events float64) func() bool {
		return func() bool {
			return !partitionExists(t, env["DATABASE_URL"], a.Partition) &&
				testenv.Metric(t, url, "logagg_retention_dropped_events_total", "") == events
		}
	}
	waitUntil(t, dropped(first, 4), "the first pass drops "+first.Partition)

	second := testenv.SeedAged(t, env["DATABASE_URL"], 96*time.Hour, 3)
	waitUntil(t, dropped(second, 7), "a later pass drops "+second.Partition)
	require.GreaterOrEqual(t, testenv.Metric(t, url, "logagg_maintenance_passes_total", `outcome="done"`), 2.0)
	require.Zero(t, testenv.Metric(t, url, "logagg_maintenance_passes_total", `outcome="failed"`))
}
