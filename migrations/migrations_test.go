package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/migrations"
)

func TestMigrationsAreNumberedFromOne(t *testing.T) {
	t.Parallel()
	names, err := migrate.FindMigrations(migrations.FS)
	require.NoError(t, err)
	require.NotEmpty(t, names)
	require.Equal(t, "001_initial.sql", names[0])
}

// newMigrator connects to a database of the test's own and loads the
// migrations, applying none.
func newMigrator(t *testing.T) (*pgx.Conn, *migrate.Migrator) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	m, err := migrate.NewMigrator(ctx, conn, migrations.VersionTable)
	require.NoError(t, err)
	require.NoError(t, m.LoadMigrations(migrations.FS))
	return conn, m
}

func TestMigrationsGoUpDownAndUpAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, m := newMigrator(t)
	latest := int32(len(m.Migrations))

	tables := func() []string {
		rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1 ORDER BY 1`, migrations.VersionTable)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return names
	}
	want := []string{"consumed_messages", "dead_letters", "duplicate_events", "event_keys", "processed_events", "published_counts", "stats_shards", "topic_stats"}

	require.NoError(t, m.Migrate(ctx))
	v, err := m.GetCurrentVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, latest, v)
	require.Equal(t, want, tables())

	require.NoError(t, m.MigrateTo(ctx, 0))
	require.Empty(t, tables())

	require.NoError(t, m.Migrate(ctx))
	require.Equal(t, want, tables())
	// Migrating a current schema is a no-op.
	require.NoError(t, m.Migrate(ctx))
}

// An operator of a large table may build 002's indexes beforehand, without
// blocking inserts; the migration then takes them as they are.
func TestListingOrderTakesIndexesBuiltBeforehand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, m := newMigrator(t)

	require.NoError(t, m.MigrateTo(ctx, 1))
	for _, sql := range []string{
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_processed_at_id_idx ON processed_events (processed_at, id)`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_topic_processed_at_id_idx ON processed_events (topic, processed_at, id)`,
		`CREATE INDEX CONCURRENTLY IF NOT EXISTS processed_events_source_processed_at_id_idx ON processed_events (source, processed_at, id)`,
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	require.NoError(t, m.MigrateTo(ctx, 2))
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'processed_events' ORDER BY 1`)
	require.NoError(t, err)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{
		"processed_events_processed_at_id_idx",
		"processed_events_source_processed_at_id_idx",
		"processed_events_topic_event_id_key",
		"processed_events_topic_processed_at_id_idx",
	}, indexes)
}
