package migrations_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/migrations"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
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
func newMigrator(t testing.TB) (*pgx.Conn, *migrate.Migrator) {
	t.Helper()
	_, conn, m := newMigratorAt(t)
	return conn, m
}

// newMigratorAt is newMigrator, also giving the database's URL.
func newMigratorAt(t testing.TB) (url string, conn *pgx.Conn, m *migrate.Migrator) {
	t.Helper()
	ctx := context.Background()
	url = testenv.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	m, err = migrate.NewMigrator(ctx, conn, migrations.VersionTable)
	require.NoError(t, err)
	require.NoError(t, m.LoadMigrations(migrations.FS))
	return url, conn, m
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

// populate inserts n events into a database at version 2, as consumers
// did: the first half processed seconds ago, the second half over a day,
// 400 days ago, so that listing order and id order disagree; ten events
// share each processed_at, as the rows of one transaction do.
func populate(t testing.TB, conn *pgx.Conn, n int) {
	t.Helper()
	_, err := conn.Exec(context.Background(), `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id, processed_at)
		SELECT 'topic-' || i % 50, 'evt-' || i, timestamptz '2026-01-01 00:00:00Z' + i * interval '1 second',
			'source-' || i % 20, jsonb_build_object('n', i, 'line', 'GET /api/v1/orders 200 in 12 ms'), 'msg-' || i / 10,
			CASE WHEN i <= $1 / 2 THEN now() - ($1 - i) / 10 * interval '1 millisecond'
			ELSE now() - interval '400 days' + i / 10 * interval '1 second' END
		FROM generate_series(1, $1::int) i`, n)
	require.NoError(t, err)
}

// populatedEvent is the event populate stored as its i-th.
func populatedEvent(i int) event.Event {
	return event.Event{
		Topic: fmt.Sprintf("topic-%d", i%50), EventID: fmt.Sprintf("evt-%d", i), Source: fmt.Sprintf("source-%d", i%20),
		Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Payload:   json.RawMessage(fmt.Sprintf(`{"n": %d, "line": "GET /api/v1/orders 200 in 12 ms"}`, i)),
	}
}

// listingOrder is every row's id, newest processed first.
func listingOrder(t testing.TB, conn *pgx.Conn) []int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT id FROM processed_events ORDER BY processed_at DESC, id DESC`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return ids
}

// listed pages through the store's listing, newest processed first, and
// returns the ids in the order listed.
func listed(t testing.TB, s *store.Store) []int64 {
	t.Helper()
	var (
		ids   []int64
		after *event.Position
	)
	for {
		page, err := s.Events(context.Background(), event.Filter{Limit: event.MaxListLimit, After: after})
		require.NoError(t, err)
		for _, e := range page {
			ids = append(ids, e.ID)
		}
		if len(page) < event.MaxListLimit {
			return ids
		}
		last := page[len(page)-1]
		after = &event.Position{At: last.ProcessedAt, ID: last.ID}
	}
}

// relfilenodes maps index names to the files that hold them: an index
// that is rebuilt gets a new file.
func relfilenodes(t testing.TB, conn *pgx.Conn, names ...string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for _, name := range names {
		var node uint32
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT relfilenode FROM pg_class WHERE relname = $1`, name).Scan(&node), name)
		out[name] = node
	}
	return out
}

// migratedPartition names the partition the migration made of the old
// table and gives its bounds, as PostgreSQL prints them in UTC.
func migratedPartition(t testing.TB, conn *pgx.Conn) (name, bound string) {
	t.Helper()
	ctx := context.Background()
	_, err := conn.Exec(ctx, `SET TimeZone = 'UTC'`)
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'processed_events'::regclass AND c.relname LIKE '%\_migrated'`).Scan(&name, &bound))
	return name, bound
}

func TestPartitionsMigrationOnAPopulatedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, conn, m := newMigratorAt(t)
	const n = 100_000
	require.NoError(t, m.MigrateTo(ctx, 2))
	populate(t, conn, n)
	order := listingOrder(t, conn)
	require.Len(t, order, n)
	listingIndexes := []string{
		"processed_events_processed_at_id_idx",
		"processed_events_topic_processed_at_id_idx",
		"processed_events_source_processed_at_id_idx",
	}
	files := relfilenodes(t, conn, listingIndexes...)
	var before time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT now()`).Scan(&before))

	require.NoError(t, m.Migrate(ctx))
	var after time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT now()`).Scan(&after))

	// The old table is one partition, up to the end of the day it was
	// migrated on (UTC).
	name, bound := migratedPartition(t, conn)
	var want []string
	for _, at := range []time.Time{before, after} {
		end := at.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		want = append(want, "processed_events_"+end.Format("20060102")+"_0000_migrated FOR VALUES FROM (MINVALUE) TO ('"+end.Format("2006-01-02")+" 00:00:00+00')")
	}
	require.Contains(t, want, name+" "+bound)

	// Its listing indexes were adopted by the parent's, not built again.
	for _, index := range listingIndexes {
		migrated := strings.Replace(index, "processed_events_", "processed_events_migrated_", 1)
		require.Equal(t, files[index], relfilenodes(t, conn, migrated)[migrated], index)
		var parent string
		require.NoError(t, conn.QueryRow(ctx, `SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = $1::regclass`, migrated).Scan(&parent))
		require.Equal(t, index, parent)
	}

	// One key per event, leading to its row.
	var keys, matching int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM event_keys`).Scan(&keys))
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT count(*) FROM event_keys k JOIN processed_events p ON p.processed_at = k.processed_at AND p.id = k.id
		WHERE p.topic = k.topic AND p.event_id = k.event_id`).Scan(&matching))
	require.EqualValues(t, n, keys)
	require.EqualValues(t, n, matching)

	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, order, listed(t, s))

	// Duplicates of migrated events, recent and old, are dropped and
	// compared with them; a new event gets an id above every old one.
	fresh := populatedEvent(n + 1)
	res, err := s.Consume(ctx, []event.Record{
		{MessageID: "late-1", Events: []event.Event{populatedEvent(7)}},
		{MessageID: "late-2", Events: []event.Event{populatedEvent(n - 7)}},
		{MessageID: "new", Events: []event.Event{fresh}},
	})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 3, Unique: 1, Duplicates: 2}, res)
	var matches int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM duplicate_events WHERE payload_matches`).Scan(&matches))
	require.Equal(t, 2, matches)
	var id int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT id FROM event_keys WHERE event_id = $1`, fresh.EventID).Scan(&id))
	require.Greater(t, id, slices.Max(order))

	// Maintenance closes the migrated partition once its day is over, and
	// never forgets the keys it holds: its range starts at MINVALUE.
	maint, err := s.Maintain(ctx, store.Policy{DedupWindow: time.Hour})
	require.NoError(t, err)
	require.Zero(t, maint.Keys)
	require.NotContains(t, maint.Closed, name)
}

// Going down and up again keeps every event, its id and its processing time.
func TestPartitionsMigrationDownAndUpOnAPopulatedDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, conn, m := newMigratorAt(t)
	const n = 20_000
	require.NoError(t, m.MigrateTo(ctx, 2))
	populate(t, conn, n)
	require.NoError(t, m.MigrateTo(ctx, 3))

	// Events consumed after the migration go into the partitions made for
	// them; one of them is a duplicate whose original retention removed.
	s, err := store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	_, err = s.Consume(ctx, []event.Record{{MessageID: "new", Events: []event.Event{populatedEvent(n + 1), populatedEvent(n + 2), populatedEvent(3)}}})
	require.NoError(t, err)
	s.Close()
	_, err = conn.Exec(ctx, `INSERT INTO duplicate_events (topic, event_id, message_id, source, payload_matches) VALUES ('t', 'gone', 'm', 's', NULL)`)
	require.NoError(t, err)

	rows := func() string {
		var sum string
		require.NoError(t, conn.QueryRow(ctx, `
			SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', id, topic, event_id, "timestamp", source, payload, message_id, processed_at), ',' ORDER BY id))
			FROM processed_events`).Scan(&sum))
		return sum
	}
	want := rows()
	require.True(t, strings.HasPrefix(want, fmt.Sprint(n+2)+" "), want)

	var maxID int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT max(id) FROM processed_events`).Scan(&maxID))

	require.NoError(t, m.MigrateTo(ctx, 2))
	require.Equal(t, want, rows())
	var id int64
	require.NoError(t, conn.QueryRow(ctx, `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id)
		VALUES ('t', 'after-down', now(), 's', '{}', 'm') RETURNING id`).Scan(&id))
	require.Greater(t, id, maxID)
	maxID = id
	_, err = conn.Exec(ctx, `INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id)
		VALUES ('t', 'after-down', now(), 's', '{}', 'm')`)
	require.ErrorContains(t, err, "processed_events_topic_event_id_key")
	_, err = conn.Exec(ctx, `DELETE FROM processed_events WHERE event_id = 'after-down'`)
	require.NoError(t, err)

	require.NoError(t, m.Migrate(ctx))
	require.Equal(t, want, rows())
	var keys int64
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM event_keys`).Scan(&keys))
	require.EqualValues(t, n+2, keys)
	name, _ := migratedPartition(t, conn)
	require.NotEmpty(t, name)
	s, err = store.Open(ctx, url, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	res, err := s.Consume(ctx, []event.Record{{MessageID: "again", Events: []event.Event{populatedEvent(5), populatedEvent(n + 4)}}})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 2, Unique: 1, Duplicates: 1}, res)
	require.NoError(t, conn.QueryRow(ctx, `SELECT id FROM processed_events WHERE event_id = $1`, populatedEvent(n+4).EventID).Scan(&id))
	require.Greater(t, id, maxID)
}

// The migrated partition ends at midnight UTC whatever the session's time
// zone: a day in a zone with summer time may be 23 or 25 hours long.
func TestMigratedPartitionEndsAtMidnightUTCInAnyTimeZone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, m := newMigrator(t)
	require.NoError(t, m.MigrateTo(ctx, 2))
	// The latest event was processed on the day New York's clocks move on.
	_, err := conn.Exec(ctx, `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id, processed_at)
		VALUES ('t', 'e', now(), 's', '{}', 'm', '2030-03-10 12:00:00Z')`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET TimeZone = 'America/New_York'`)
	require.NoError(t, err)
	require.NoError(t, m.Migrate(ctx))

	name, bound := migratedPartition(t, conn)
	require.Equal(t, "processed_events_20300311_0000_migrated", name)
	require.Equal(t, "FOR VALUES FROM (MINVALUE) TO ('2030-03-11 00:00:00+00')", bound)
}

// BenchmarkMigratePopulated times the migrations from 002 on
// MIGRATE_BENCH_EVENTS events (default 1,000,000), stored as populate does
// and vacuumed, as a live table is, and reports each one's seconds per
// million events: to partitions (002→003), whose cost grows with the rows,
// and the BRIN index built again (003→004).
//
//	go test -run '^$' -bench MigratePopulated -benchtime 1x ./migrations/
func BenchmarkMigratePopulated(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("MIGRATE_BENCH_EVENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "MIGRATE_BENCH_EVENTS")
	}
	ctx := context.Background()
	b.StopTimer()
	var took [2]time.Duration // 003, 004
	for range b.N {
		conn, m := newMigrator(b)
		require.NoError(b, m.MigrateTo(ctx, 2))
		populate(b, conn, n)
		_, err := conn.Exec(ctx, `VACUUM (ANALYZE) processed_events`)
		require.NoError(b, err)

		for i := range took {
			start := time.Now()
			b.StartTimer()
			require.NoError(b, m.MigrateTo(ctx, int32(3+i)))
			b.StopTimer()
			took[i] += time.Since(start)
		}
	}
	perMillion := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) / (float64(n) / 1e6) }
	b.ReportMetric(perMillion(took[0]), "s/Mevents-003")
	b.ReportMetric(perMillion(took[1]), "s/Mevents-004")
}
