package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// A consumer of the previous version (a replica not yet restarted, a
// Lambda instance of the old code) may commit a row while 003 runs. 003
// locks processed_events before it copies the keys, so that row is either
// copied or waits for the migration (and then fails on the new layout, to
// be retried by a new consumer): never stored without a key, which would
// let a later duplicate of it be stored a second time.
func TestMigrationKeepsTheKeysOfRowsCommittedWhileItRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, conn, m := newMigratorAt(t)
	require.NoError(t, m.MigrateTo(ctx, 2))
	populate(t, conn, 1000)

	// The old consumer's transaction: its insert is in, not yet committed.
	old, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer old.Close(ctx)
	late := populatedEvent(5000)
	tx, err := old.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id)
		VALUES ($1, $2, $3, $4, $5, 'old-consumer')
		ON CONFLICT (topic, event_id) DO NOTHING`,
		late.Topic, late.EventID, late.Timestamp, late.Source, string(late.Payload))
	require.NoError(t, err)

	var migratorPID int32
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&migratorPID))
	done := make(chan error, 1)
	go func() { done <- m.MigrateTo(ctx, 3) }()

	// The migration has copied the keys and now waits for the old
	// consumer's lock; the old consumer commits.
	watch, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer watch.Close(ctx)
	require.Eventually(t, func() bool {
		var waiting bool
		_ = watch.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, migratorPID).Scan(&waiting)
		return waiting
	}, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)

	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	res, err := s.Consume(ctx, []event.Record{{MessageID: "dup-after-migration", Events: []event.Event{late}}})
	require.NoError(t, err)

	var rows, keys int
	require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE topic = $1 AND event_id = $2`, late.Topic, late.EventID).Scan(&rows))
	require.NoError(t, watch.QueryRow(ctx, `SELECT count(*) FROM event_keys WHERE topic = $1 AND event_id = $2`, late.Topic, late.EventID).Scan(&keys))
	t.Logf("after the duplicate: %d rows, %d keys, result %+v", rows, keys, res)
	require.Equal(t, event.BatchResult{Received: 1, Duplicates: 1}, res, "the duplicate must be dropped")
	require.Equal(t, 1, rows, "one row per key")
}
