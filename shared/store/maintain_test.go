package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
)

// agedEvents are the events of agedStore, by their age in processing time.
var agedEvents = []struct {
	key event.Key
	age time.Duration
}{
	{event.Key{Topic: "t", EventID: "8d"}, 8 * day},
	{event.Key{Topic: "u", EventID: "5d"}, 5 * day},
	{event.Key{Topic: "t", EventID: "2d"}, 2 * day},
	{event.Key{Topic: "u", EventID: "now"}, 0},
}

// agedStore consumes agedEvents (and a duplicate of the newest), then
// moves each back to its age, into the daily partitions made for the past
// ten days.
func agedStore(t *testing.T) (*Store, time.Time) {
	t.Helper()
	return agedStoreWith(t, Options{})
}

func agedStoreWith(t *testing.T, opts Options) (*Store, time.Time) {
	t.Helper()
	ctx := context.Background()
	if opts.PartitionInterval == 0 {
		opts.PartitionInterval = day
	}
	s, err := Open(ctx, testenv.NewDatabase(t), opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	now := dbNow(t, s)
	require.NoError(t, s.EnsurePartitions(ctx, now.Add(-10*day), now))
	for i, e := range agedEvents {
		_, err := s.Consume(ctx, []event.Record{rec(fmt.Sprintf("m%d", i), ev(e.key.Topic, e.key.EventID, `{"n":1}`))})
		require.NoError(t, err)
		if e.age > 0 {
			backdate(t, s, e.age, e.key)
		}
	}
	_, err = s.Consume(ctx, []event.Record{rec("again", ev("u", "now", `{"n":1}`))})
	require.NoError(t, err)
	requireStats(t, s, event.Stats{Received: 5, UniqueProcessed: 4, DuplicateDropped: 1, Topics: 2})
	return s, now
}

// storedEventIDs lists the event IDs of a table's rows, sorted.
func storedEventIDs(t testing.TB, s *Store, table string) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT event_id FROM `+pgx.Identifier{table}.Sanitize()+` ORDER BY 1`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}

func partitionNames(t testing.TB, s *Store) []string {
	t.Helper()
	all, err := partitions(context.Background(), s.pool)
	require.NoError(t, err)
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = p.name
	}
	return names
}

func TestMaintainDropsWholePartitionsPastRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)
	before, err := partitions(ctx, s.pool)
	require.NoError(t, err)
	stats, err := s.Stats(ctx)
	require.NoError(t, err)
	// A partition may have an index of its own, beside the parent's: the
	// migrated one keeps the old table's primary key.
	_, err = s.pool.Exec(ctx, `ALTER TABLE `+pgx.Identifier{partitionName(now.Add(-8 * day).Truncate(day))}.Sanitize()+` ADD PRIMARY KEY (id)`)
	require.NoError(t, err)

	m, err := s.Maintain(ctx, Policy{Retention: 4 * day})
	require.NoError(t, err)
	require.False(t, m.Skipped)
	require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "processed_events"))

	// What was dropped is every partition, and only those, that ended
	// longer ago than the retention.
	after := dbNow(t, s)
	var dropped []string
	for _, p := range before {
		if !slices.Contains(partitionNames(t, s), p.name) {
			dropped = append(dropped, p.name)
			require.False(t, p.to.After(after.Add(-4*day)), "%s dropped too early", p.name)
		} else {
			require.True(t, p.to.After(now.Add(-4*day)), "%s kept too long", p.name)
		}
	}
	require.Equal(t, dropped, m.Dropped)
	require.Positive(t, m.Rested, "the pass rests between the steps of a drop")
	require.Greater(t, m.Spent.Dropping, m.Rested, "the drops' time holds their rests")
	require.Contains(t, m.Dropped, partitionName(now.Add(-8*day).Truncate(day)))
	require.Contains(t, m.Dropped, partitionName(now.Add(-5*day).Truncate(day)))
	for _, name := range m.Dropped {
		var n int
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE starts_with(relname, $1)`, name).Scan(&n))
		require.Zero(t, n, "%s, or an index of it, is detached but not dropped", name)
	}

	// Counters are lifetime totals; the keys stay (DEDUP_WINDOW for ever).
	requireStats(t, s, stats)
	require.Equal(t, []string{"2d", "5d", "8d", "now"}, storedEventIDs(t, s, "event_keys"))

	again, err := s.Maintain(ctx, Policy{Retention: 4 * day})
	require.NoError(t, err)
	require.Empty(t, again.Dropped)
	require.Zero(t, again.Rested)

	// A duplicate of a removed event is still dropped; there is no payload
	// to compare it with, so it is no conflict either.
	res, err := s.Consume(ctx, []event.Record{rec("late", ev("t", "8d", `{"n":2}`))})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 1, Duplicates: 1}, counts(res))
	var matches *bool
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT payload_matches FROM duplicate_events WHERE message_id = 'late'`).Scan(&matches))
	require.Nil(t, matches)
	stats.Received++
	stats.DuplicateDropped++
	requireStats(t, s, stats)
	require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "processed_events"))
}

func TestMaintainForgetsKeysPastTheDedupWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("without retention every key is kept", func(t *testing.T) {
		t.Parallel()
		s, _ := agedStore(t)
		m, err := s.Maintain(ctx, Policy{DedupWindow: day})
		require.NoError(t, err)
		require.Zero(t, m.Keys)
		require.Equal(t, []string{"2d", "5d", "8d", "now"}, storedEventIDs(t, s, "event_keys"))
	})

	t.Run("with retention", func(t *testing.T) {
		t.Parallel()
		s, _ := agedStore(t)
		m, err := s.Maintain(ctx, Policy{Retention: 4 * day, DedupWindow: day})
		require.NoError(t, err)
		// 2d is older than the window, but its event is still kept.
		require.EqualValues(t, 2, m.Keys)
		require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "event_keys"))
		stats, err := s.Stats(ctx)
		require.NoError(t, err)

		// A duplicate of a forgotten key is stored again; one of a key
		// still known is dropped, and compared with its stored event.
		res, err := s.Consume(ctx, []event.Record{
			rec("late-8d", ev("t", "8d", `{"n":1}`)),
			rec("late-2d", ev("t", "2d", `{"n":1}`)),
		})
		require.NoError(t, err)
		require.Equal(t, event.BatchResult{Received: 2, Unique: 1, Duplicates: 1}, counts(res))
		var matches *bool
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT payload_matches FROM duplicate_events WHERE message_id = 'late-2d'`).Scan(&matches))
		require.NotNil(t, matches)
		require.True(t, *matches)
		require.Equal(t, []string{"2d", "8d", "now"}, storedEventIDs(t, s, "processed_events"))
		stats.Received += 2
		stats.UniqueProcessed++
		stats.DuplicateDropped++
		requireStats(t, s, stats)
	})
}

func TestMaintainIsSkippedWhileAnotherProcessMaintains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := agedStore(t)
	other, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer other.Release()
	_, err = other.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(maintenanceLock))
	require.NoError(t, err)

	m, err := s.Maintain(ctx, Policy{Retention: 4 * day, DedupWindow: day})
	require.NoError(t, err)
	require.Equal(t, Maintenance{Skipped: true}, m)
	require.Equal(t, []string{"2d", "5d", "8d", "now"}, storedEventIDs(t, s, "processed_events"))

	_, err = other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(maintenanceLock))
	require.NoError(t, err)
	m, err = s.Maintain(ctx, Policy{Retention: 4 * day, DedupWindow: day})
	require.NoError(t, err)
	require.False(t, m.Skipped)
	require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "processed_events"))
}

// DB_MAX_CONNS may be 1: Maintain does all its work on the connection that
// holds its lock, rather than wait for a second one.
func TestMaintainOnAPoolOfOneConnection(t *testing.T) {
	t.Parallel()
	s, _ := agedStoreWith(t, Options{MaxConns: 1})
	// A guard, not a measure: the pass takes well under a second.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := s.Maintain(ctx, Policy{Retention: 4 * day, DedupWindow: day, DuplicateAudit: day, DeadLetters: day, Ledger: day})
	require.NoError(t, err)
	require.NotEmpty(t, m.Dropped)
	require.NotEmpty(t, m.Closed)
	require.EqualValues(t, 2, m.Keys)
	require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "processed_events"))
}

// indexesOf lists what a table's own indexes are on, as in `USING btree
// (topic, id)`, sorted: by what they are, not by name.
func indexesOf(t testing.TB, s *Store, table string) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `
		SELECT substring(indexdef FROM ' USING .*$') FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, table)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return defs
}

// windowIndexDefs are the definitions closePartition builds.
var windowIndexDefs = []string{
	` USING btree ("timestamp", id) INCLUDE (processed_at) WITH (fillfactor='100')`,
	` USING btree (source, "timestamp", id) INCLUDE (processed_at) WITH (fillfactor='100')`,
	` USING btree (topic, "timestamp", id) INCLUDE (processed_at) WITH (fillfactor='100')`,
}

func TestMaintainClosesEndedPartitionsOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)

	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Empty(t, m.Dropped)
	all, err := partitions(ctx, s.pool)
	require.NoError(t, err)
	closed := 0
	for _, p := range all {
		have := indexesOf(t, s, p.name)
		switch {
		case p.to.After(now):
			// Still taking rows (or about to): no window index to pay for.
			require.NotContains(t, m.Closed, p.name)
			for _, def := range windowIndexDefs {
				require.NotContains(t, have, def, p.name)
			}
		case !p.to.After(now.Add(-closeMargin)):
			require.Contains(t, m.Closed, p.name)
			require.Subset(t, have, windowIndexDefs, p.name)
			closed++
		}
	}
	require.Len(t, m.Closed, closed)
	require.GreaterOrEqual(t, closed, 9)

	// Closing vacuumed and analyzed the partition.
	var tuples float32
	var visible int32
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT reltuples, relallvisible FROM pg_class WHERE relname = $1`,
		partitionName(now.Add(-8*day).Truncate(day))).Scan(&tuples, &visible))
	require.EqualValues(t, 1, tuples)
	require.EqualValues(t, 1, visible)

	again, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Empty(t, again.Closed)
}

// relationBytes is the size of a table's or an index's main fork, 0 when
// there is none.
func relationBytes(t testing.TB, s *Store, name string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT coalesce(pg_relation_size(to_regclass($1)), 0)`,
		pgx.Identifier{name}.Sanitize()).Scan(&n))
	return n
}

// Inserts grow the topic and source listing indexes half empty (each
// topic's keys come at the end of its range, and leaves split in halves);
// closing a partition rebuilds them packed. It also drops what a rebuild
// cut short left: an invalid index.
func TestMaintainRepacksTheListingIndexesOfAClosedPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)
	old := partitionName(now.Add(-8 * day).Truncate(day))
	// 40,000 events of 50 topics and 20 sources taking turns, in processing
	// order, as consumers store them; rows wide enough that a topic's
	// consecutive events are not in neighbouring pages.
	_, err := s.pool.Exec(ctx, `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id, processed_at)
		SELECT 'topic-' || g % 50, 'e' || g, $1::timestamptz + make_interval(secs => g),
			'source-' || g % 20, jsonb_build_object('msg', repeat('x', 300)), 'm', $1::timestamptz + make_interval(secs => g)
		FROM generate_series(1, 40000) g`, now.Add(-8*day).Truncate(day))
	require.NoError(t, err)
	// What a rebuild cut short leaves, and an invalid index that is someone
	// else's (being built, say), to be left alone.
	leftover, others := old+"_topic_idx_ccnew", old+"_message_idx"
	for ix, column := range map[string]string{leftover: "topic", others: "message_id"} {
		_, err = s.pool.Exec(ctx, `CREATE INDEX `+pgx.Identifier{ix}.Sanitize()+` ON `+pgx.Identifier{old}.Sanitize()+` (`+column+`)`)
		require.NoError(t, err)
		_, err = s.pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass($1)`, pgx.Identifier{ix}.Sanitize())
		require.NoError(t, err)
	}
	listing := []string{old + "_topic_processed_at_id_idx", old + "_source_processed_at_id_idx", old + "_processed_at_id_idx"}
	var grown []int64
	for _, ix := range listing {
		grown = append(grown, relationBytes(t, s, ix))
	}

	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Contains(t, m.Closed, old)
	// Half empty, the topic and source indexes lose a third or more;
	// (processed_at, id), nine tenths full, what the last tenth took.
	for i, shrink := range []float64{0.75, 0.75, 0.95} {
		ix, repacked := listing[i], relationBytes(t, s, listing[i])
		require.Positive(t, repacked, ix)
		require.Less(t, float64(repacked), shrink*float64(grown[i]), "%s: %d bytes grown, %d rebuilt", ix, grown[i], repacked)
	}
	require.Zero(t, relationBytes(t, s, leftover), "the invalid copy is dropped")
	require.NotContains(t, indexesOf(t, s, old), " USING btree (topic)")
	require.Contains(t, indexesOf(t, s, old), " USING btree (message_id)", "another invalid index is kept")
	// The rebuilt indexes are still the parent's: listings read them.
	var attached int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhrelid = ANY($1::regclass[])`, listing).Scan(&attached))
	require.Equal(t, 3, attached)
}

// leaveDetachPending leaves partition name pending detach, as a pass
// interrupted in DETACH … CONCURRENTLY does: a reader holds the table, so
// the detach waits for it in its second transaction, and is cancelled there.
func leaveDetachPending(t *testing.T, s *Store, name string) {
	t.Helper()
	ctx := context.Background()
	reader, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = reader.Rollback(ctx) }()
	_, err = reader.Exec(ctx, `SELECT count(*) FROM processed_events`)
	require.NoError(t, err)

	detacher, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer detacher.Release()
	var pid int32
	require.NoError(t, detacher.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	done := make(chan error, 1)
	go func() {
		_, err := detacher.Exec(ctx, `ALTER TABLE processed_events DETACH PARTITION `+pgx.Identifier{name}.Sanitize()+` CONCURRENTLY`)
		done <- err
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		_ = s.pool.QueryRow(ctx, `SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting)
		return waiting
	}, 30*time.Second, 10*time.Millisecond)
	_, err = s.pool.Exec(ctx, `SELECT pg_cancel_backend($1)`, pid)
	require.NoError(t, err)
	require.Error(t, <-done)
	require.NoError(t, reader.Rollback(ctx))
}

func TestMaintainFinishesAnInterruptedDetach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)
	old := partitionName(now.Add(-8 * day).Truncate(day))

	leaveDetachPending(t, s, old)
	var pending bool
	require.NoError(t, s.pool.QueryRow(ctx, `
		SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = $1`, old).Scan(&pending))
	require.True(t, pending)

	m, err := s.Maintain(ctx, Policy{Retention: 4 * day})
	require.NoError(t, err)
	require.Contains(t, m.Dropped, old)
	require.NotContains(t, partitionNames(t, s), old)
	require.Equal(t, []string{"2d", "now"}, storedEventIDs(t, s, "processed_events"))
}

// A pass that stopped between DETACH and DROP leaves a table that is no
// longer a partition; the next pass drops it, and nothing else.
func TestMaintainDropsAPartitionDetachedAndLeftBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)
	old := partitionName(now.Add(-8 * day).Truncate(day))
	_, err := s.pool.Exec(ctx, `ALTER TABLE processed_events DETACH PARTITION `+pgx.Identifier{old}.Sanitize())
	require.NoError(t, err)
	_, err = s.pool.Exec(ctx, `CREATE TABLE processed_events_notes (note text)`)
	require.NoError(t, err)

	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Equal(t, []string{old}, m.Dropped)
	var left int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = $1`, old).Scan(&left))
	require.Zero(t, left)
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'processed_events_notes'`).Scan(&left))
	require.Equal(t, 1, left, "a table not named like a partition is not touched")
}

func TestMaintainPrunesByAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	// More old audit rows than one chunk of a prune deletes.
	const oldAudits = deleteChunk*2 + 5
	for _, sql := range []string{
		`INSERT INTO duplicate_events (topic, event_id, message_id, source, payload_matches, dropped_at)
			SELECT 't', 'e' || i, 'm' || i, 's', true, now() - interval '2 days' FROM generate_series(1, ` + fmt.Sprint(oldAudits) + `) i`,
		`INSERT INTO duplicate_events (topic, event_id, message_id, source, payload_matches)
			SELECT 't', 'e' || i, 'm' || i, 's', NULL FROM generate_series(1, 3) i`,
		`INSERT INTO dead_letters (message_id, body, reason, events, created_at)
			SELECT 'm' || i, '', 'r', 1, now() - interval '2 days' FROM generate_series(1, 5) i`,
		`INSERT INTO dead_letters (message_id, body, reason, events) SELECT 'n' || i, '', 'r', 1 FROM generate_series(1, 2) i`,
		`INSERT INTO consumed_messages (message_id, consumed_at)
			SELECT 'm' || i, now() - interval '2 days' FROM generate_series(1, 12) i`,
		`INSERT INTO consumed_messages (message_id) SELECT 'n' || i FROM generate_series(1, 4) i`,
	} {
		_, err := s.pool.Exec(ctx, sql)
		require.NoError(t, err)
	}

	// Kept for ever by default.
	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	// What is timed, and whether the partition taking rows was due an
	// ANALYZE, is checked elsewhere.
	m.Spent, m.Analyzed = MaintenanceSteps{}, nil
	require.Equal(t, Maintenance{}, m)
	require.EqualValues(t, oldAudits+3, rowCount(t, s, "duplicate_events"))

	m, err = s.Maintain(ctx, Policy{DuplicateAudit: day, DeadLetters: day, Ledger: day})
	require.NoError(t, err)
	require.Positive(t, m.Spent.Pruning, "the pruning is timed")
	m.Spent, m.Analyzed = MaintenanceSteps{}, nil
	require.Equal(t, Maintenance{Duplicates: oldAudits, DeadLetters: 5, LedgerEntries: 12}, m)
	require.EqualValues(t, 3, rowCount(t, s, "duplicate_events"))
	require.EqualValues(t, 2, rowCount(t, s, "dead_letters"))
	require.EqualValues(t, 4, rowCount(t, s, "consumed_messages"))
}

// The migrated partition has the longest name, and its window indexes the
// longest names PostgreSQL can hold: built once, and known as built.
func TestMaintainClosesAMigratedPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	const migrated = "processed_events_20200102_0000_migrated"
	_, err := s.pool.Exec(ctx, `CREATE TABLE `+migrated+` PARTITION OF processed_events FOR VALUES FROM (MINVALUE) TO ('2020-01-02 00:00:00Z')`)
	require.NoError(t, err)

	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Equal(t, []string{migrated}, m.Closed)
	require.Subset(t, indexesOf(t, s, migrated), windowIndexDefs)
	again, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Empty(t, again.Closed)
}

// storeTakingRows is a new store, the time in its database, and the name of
// its partition taking rows, which autovacuum leaves alone: what a test
// sees of that partition is what Maintain did.
func storeTakingRows(t *testing.T) (*Store, time.Time, string) {
	t.Helper()
	s := newStore(t)
	now := dbNow(t, s)
	current := partitionName(now.Truncate(day))
	_, err := s.pool.Exec(context.Background(), `ALTER TABLE `+pgx.Identifier{current}.Sanitize()+` SET (autovacuum_enabled = off)`)
	require.NoError(t, err)
	return s, now, current
}

// insertLogLines stores events from to to of one topic and source, with
// the payload, their timestamps a second apart and in order, the last at
// now; with outlierEvery above 0, every outlierEvery-th event is stamped
// 1,000 days earlier instead.
func insertLogLines(t *testing.T, s *Store, now time.Time, from, to int, payload string, outlierEvery int) {
	t.Helper()
	_, err := s.pool.Exec(context.Background(), `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id)
		SELECT 't', 'e' || g,
			CASE WHEN $5::int > 0 AND g % $5::int = 0 THEN $1::timestamptz - interval '1000 days'
				ELSE $1::timestamptz - make_interval(secs => $3 - g) END,
			's', $4::jsonb, 'm'
		FROM generate_series($2::int, $3::int) g`, now, from, to, payload, outlierEvery)
	require.NoError(t, err)
}

// The partition taking rows is read by "timestamp" through BRIN alone, and
// a BRIN index knows nothing of the ranges filled since they were last
// summarised: until then, a window query reads them whole. A pass
// summarises them (so does autovacuum, soon after a range fills: that is
// turned off here, to see the pass's part).
func TestMaintainSummarisesTheBRINIndexOfThePartitionTakingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now, current := storeTakingRows(t)
	_, err := s.pool.Exec(ctx, `ALTER INDEX `+pgx.Identifier{current + "_timestamp_idx"}.Sanitize()+` SET (autosummarize = off)`)
	require.NoError(t, err)
	// 100,000 events a second apart, in timestamp order, as logs arrive.
	insertLogLines(t, s, now, 1, 100000, `{"message":"a line of a log"}`, 0)

	before := windowRecheck(t, s, current, now.Add(-50000*time.Second), time.Minute)
	require.Greater(t, before, 50000.0, "unsummarised, the window reads most of the partition")
	_, err = s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	after := windowRecheck(t, s, current, now.Add(-50000*time.Second), time.Minute)
	// A block range of 128 pages holds about 10,000 of these rows.
	require.Less(t, after, 25000.0, "summarised, it reads the ranges around the window (was %.0f)", before)
}

// A few events whose timestamps are far off, among the rest, must not make
// a window read every block range they fall in: a plain minmax summary
// would stretch each such range over years.
func TestWindowSkipsTheRangesOfOutlyingTimestamps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now, current := storeTakingRows(t)
	// 100,000 events a second apart, one in 1,000 of them stamped 1,000 days
	// earlier: about ten in every block range.
	insertLogLines(t, s, now, 1, 100000, `{"message":"a line of a log"}`, 1000)
	_, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)

	removed := windowRecheck(t, s, current, now.Add(-50000*time.Second), time.Minute)
	require.Less(t, removed, 25000.0, "the window reads the ranges around it, not every range holding an outlier")
	var outliers int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM processed_events WHERE "timestamp" >= $1 AND "timestamp" < $2`,
		now.Add(-1001*day), now.Add(-999*day)).Scan(&outliers))
	require.Equal(t, 100, outliers, "a window over the outliers finds them all")
}

// Every partition's BRIN index, those created later included, asks
// autovacuum to summarise each block range soon after it fills (which only
// a server running autovacuum does).
func TestEveryPartitionsBRINIndexHasAutosummarize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	now := dbNow(t, s)
	require.NoError(t, s.EnsurePartitions(ctx, now, now.Add(10*day)))
	rows, err := s.pool.Query(ctx, `
		SELECT c.relname, coalesce(c.reloptions, '{}') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'processed_events_timestamp_brin'::regclass`)
	require.NoError(t, err)
	options, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var name string
		var opts []string
		err := r.Scan(&name, &opts)
		return name + " " + strings.Join(opts, ","), err
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(options), 3, "the partitions ahead have the index too")
	for _, o := range options {
		require.Contains(t, o, "autosummarize=on")
	}
}

// windowRecheck is how many rows a window of length w from since, in the
// partition named current, reads beside its own: those of the BRIN index's
// block ranges that the window could not rule out.
func windowRecheck(t *testing.T, s *Store, current string, since time.Time, w time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	var plan []map[string]any
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	// The BRIN index is what is tested, whatever the planner thinks.
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON)
		SELECT count(*) FROM `+pgx.Identifier{current}.Sanitize()+` WHERE "timestamp" >= $1 AND "timestamp" < $2`,
		since, since.Add(w)).Scan(&plan))
	var removed float64
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if v, ok := n["Rows Removed by Index Recheck"].(float64); ok {
			removed += v
		}
		if v, ok := n["Rows Removed by Filter"].(float64); ok {
			removed += v
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			walk(c.(map[string]any))
		}
	}
	walk(plan[0]["Plan"].(map[string]any))
	return removed
}

// A pass gives the partition taking rows statistics of its own, without
// which the planner takes it for empty and scans it whole.
func TestMaintainAnalyzesThePartitionTakingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now, current := storeTakingRows(t)
	insertLogLines(t, s, now, 1, 1000, `{}`, 0)
	stat := func(column string) int64 {
		var n int64
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT coalesce(`+column+`, 0) FROM pg_stat_user_tables WHERE relname = $1`, current).Scan(&n))
		return n
	}
	analyzes := func() int64 { return stat("analyze_count") + stat("autoanalyze_count") }
	// A session reports its changes to the statistics a second or so
	// after its transaction ends: a count reported after the ANALYZE would
	// be counted as changed since.
	changesReported := func(n int64) {
		t.Helper()
		require.Eventually(t, func() bool { return stat("n_mod_since_analyze") >= n }, 10*time.Second, 20*time.Millisecond)
	}
	changesReported(1000)
	require.Zero(t, analyzes())
	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Equal(t, []string{current}, m.Analyzed)
	require.Eventually(t, func() bool { return analyzes() == 1 }, 10*time.Second, 20*time.Millisecond, "the statistics collector reports the ANALYZE")
	var tuples float64
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE relname = $1`, current).Scan(&tuples))
	require.Equal(t, 1000.0, tuples)

	// A tenth of the partition and 50 rows more must change before the
	// next pass samples it again.
	insertLogLines(t, s, now, 1001, 1100, `{}`, 0)
	changesReported(100)
	m, err = s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Empty(t, m.Analyzed)
	insertLogLines(t, s, now, 1101, 1200, `{}`, 0)
	changesReported(200)
	require.Equal(t, int64(1), analyzes(), "100 of 1,000 rows changed: not stale yet")
	m, err = s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Equal(t, []string{current}, m.Analyzed)
	require.Eventually(t, func() bool { return analyzes() == 2 }, 10*time.Second, 20*time.Millisecond, "200 of 1,000 rows changed: stale")
}

// A pass that drops partitions leaves the refresh of stale statistics to
// the next pass, so that ingest does not bear both at once; statistics
// that are missing it gathers all the same.
func TestMaintainThatDropsLeavesStaleStatisticsToTheNextPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now, current := storeTakingRows(t)
	old := func(days int) {
		t.Helper()
		from := now.Truncate(day).Add(-time.Duration(days) * day)
		require.NoError(t, s.ensurePartitions(ctx, s.pool, from, from.Add(day)))
	}
	changesReported := func(n int64) {
		t.Helper()
		require.Eventually(t, func() bool {
			var mod int64
			require.NoError(t, s.pool.QueryRow(ctx, `SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = $1`, current).Scan(&mod))
			return mod >= n
		}, 10*time.Second, 20*time.Millisecond)
	}
	keep := Policy{Retention: 5 * day}

	insertLogLines(t, s, now, 1, 1000, `{}`, 0)
	changesReported(1000)
	old(20)
	m, err := s.Maintain(ctx, keep)
	require.NoError(t, err)
	require.Len(t, m.Dropped, 1)
	require.Equal(t, []string{current}, m.Analyzed, "never analyzed: analyzed in a pass that drops too")

	insertLogLines(t, s, now, 1001, 1500, `{}`, 0)
	changesReported(500)
	old(19)
	m, err = s.Maintain(ctx, keep)
	require.NoError(t, err)
	require.Len(t, m.Dropped, 1)
	require.Empty(t, m.Analyzed, "stale, in a pass that drops")

	m, err = s.Maintain(ctx, keep)
	require.NoError(t, err)
	require.Empty(t, m.Dropped)
	require.Equal(t, []string{current}, m.Analyzed, "stale, in the next pass")
}
