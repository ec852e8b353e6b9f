package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
)

const day = 24 * time.Hour

func TestMissingRanges(t *testing.T) {
	t.Parallel()
	d := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(offset time.Duration) time.Time { return d.Add(offset) }
	span := func(from, to time.Duration) partition { return partition{from: at(from), to: at(to)} }
	upTo := func(to time.Duration) partition { return partition{to: at(to)} } // FROM (MINVALUE)

	tests := []struct {
		name     string
		existing []partition
		from, to time.Duration
		interval time.Duration
		want     []partition
	}{
		{
			name: "whole grid cells from UTC midnight",
			from: 10*time.Hour + 30*time.Minute, to: 2*day + time.Hour, interval: day,
			want: []partition{span(0, day), span(day, 2*day), span(2*day, 3*day)},
		},
		{
			name: "to on a cell's start needs no more cell",
			from: 0, to: day, interval: day,
			want: []partition{span(0, day)},
		},
		{
			name: "six-hour grid",
			from: 7 * time.Hour, to: 13 * time.Hour, interval: 6 * time.Hour,
			want: []partition{span(6*time.Hour, 12*time.Hour), span(12*time.Hour, 18*time.Hour)},
		},
		{
			name:     "cut against a MINVALUE partition",
			existing: []partition{upTo(15 * time.Hour)},
			from:     10 * time.Hour, to: day + time.Hour, interval: day,
			want: []partition{span(15*time.Hour, day), span(day, 2*day)},
		},
		{
			name:     "covered by a MINVALUE partition",
			existing: []partition{upTo(3 * day)},
			from:     0, to: 2 * day, interval: day,
		},
		{
			name:     "hourly partitions leave gaps in the middle of a daily cell",
			existing: []partition{span(10*time.Hour, 11*time.Hour), span(13*time.Hour, 14*time.Hour)},
			from:     0, to: time.Hour, interval: day,
			want: []partition{span(0, 10*time.Hour), span(11*time.Hour, 13*time.Hour), span(14*time.Hour, day)},
		},
		{
			name:     "a daily partition holds the hourly cells",
			existing: []partition{span(0, day)},
			from:     22 * time.Hour, to: day + 2*time.Hour, interval: time.Hour,
			want: []partition{span(day, day+time.Hour), span(day+time.Hour, day+2*time.Hour)},
		},
		{
			name:     "a partition across a cell boundary",
			existing: []partition{span(18*time.Hour, day+6*time.Hour)},
			from:     0, to: 2 * day, interval: day,
			want: []partition{span(0, 18*time.Hour), span(day+6*time.Hour, 2*day)},
		},
		{
			name:     "partitions before and after the range change nothing",
			existing: []partition{upTo(-day), span(5*day, 6*day)},
			from:     0, to: day, interval: day,
			want: []partition{span(0, day)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, missingRanges(tt.existing, at(tt.from), at(tt.to), tt.interval))
		})
	}
}

// dbNow is the database's clock, by which partitions are made and dropped.
func dbNow(t testing.TB, s *Store) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT now()`).Scan(&now))
	return now.UTC()
}

// partitionsIn lists the partitions that overlap [from, to).
func partitionsIn(t testing.TB, s *Store, from, to time.Time) []partition {
	t.Helper()
	all, err := partitions(context.Background(), s.pool)
	require.NoError(t, err)
	var in []partition
	for _, p := range all {
		if p.to.After(from) && p.from.Before(to) {
			in = append(in, p)
		}
	}
	return in
}

// requireTiled checks that parts cover [from, to) without a gap (they
// cannot overlap: PostgreSQL refuses that).
func requireTiled(t testing.TB, parts []partition, from, to time.Time) {
	t.Helper()
	require.NotEmpty(t, parts)
	require.False(t, parts[0].from.After(from), "nothing holds %s", from)
	for i := 1; i < len(parts); i++ {
		require.Equal(t, parts[i-1].to, parts[i].from, "gap between %s and %s", parts[i-1].name, parts[i].name)
	}
	require.False(t, parts[len(parts)-1].to.Before(to), "nothing holds %s", to)
}

func TestEnsurePartitionsCreatesTheGridAndIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	from := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	to := from.Add(2 * day)
	midnight := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	require.NoError(t, s.EnsurePartitions(ctx, from, to))
	want := []partition{
		{name: "processed_events_20260101_0000", from: midnight, to: midnight.Add(day)},
		{name: "processed_events_20260102_0000", from: midnight.Add(day), to: midnight.Add(2 * day)},
		{name: "processed_events_20260103_0000", from: midnight.Add(2 * day), to: midnight.Add(3 * day)},
	}
	require.Equal(t, want, partitionsIn(t, s, from, to))

	require.NoError(t, s.EnsurePartitions(ctx, from, to))
	require.Equal(t, want, partitionsIn(t, s, from, to))

	// A row lands in the partition of its processed_at.
	var table string
	require.NoError(t, s.pool.QueryRow(ctx, `
		INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id, processed_at)
		VALUES ('t', 'e', now(), 's', '{}', 'm', '2026-01-02 23:59:59.999999Z')
		RETURNING tableoid::regclass::text`).Scan(&table))
	require.Equal(t, "processed_events_20260102_0000", table)
}

// Replicas, however their partition intervals differ, may create
// partitions at once: the advisory lock has each see what the other made.
func TestEnsurePartitionsConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	var stores []*Store
	for _, interval := range []time.Duration{day, 6 * time.Hour, day, time.Hour} {
		s, err := Open(ctx, url, Options{PartitionInterval: interval, MaxConns: 2})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		stores = append(stores, s)
	}

	from := time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)
	for round := range 5 {
		start, end := from.Add(time.Duration(round)*day), from.Add(time.Duration(round+2)*day)
		errs := make([]error, len(stores))
		begin := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				<-begin
				errs[i] = s.EnsurePartitions(ctx, start, end)
			})
		}
		close(begin)
		wg.Wait()
		for i := range stores {
			require.NoError(t, errs[i], "round %d, store %d", round, i)
		}
		requireTiled(t, partitionsIn(t, stores[0], start, end), start, end)
	}
}

// dropPartitionsFrom drops, behind the Store's back, every partition whose
// range ends after at: as if maintenance had not run for a while.
func dropPartitionsFrom(t testing.TB, s *Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	all, err := partitions(ctx, s.pool)
	require.NoError(t, err)
	dropped := 0
	for _, p := range all {
		if p.to.After(at) {
			_, err := s.pool.Exec(ctx, `ALTER TABLE processed_events DETACH PARTITION `+pgx.Identifier{p.name}.Sanitize())
			require.NoError(t, err)
			_, err = s.pool.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.name}.Sanitize())
			require.NoError(t, err)
			dropped++
		}
	}
	require.NotZero(t, dropped)
}

func TestConsumeCreatesTheMissingPartitionForNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	now := dbNow(t, s)
	dropPartitionsFrom(t, s, now)
	require.Empty(t, partitionsIn(t, s, now, now.Add(time.Second)))

	res, err := s.Consume(ctx, []event.Record{
		rec("m1", ev("t", "e1", `{}`), ev("t", "e2", `{}`)),
		rec("m2", ev("u", "e1", `{}`)),
	})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 3, Unique: 3}, counts(res))
	require.Zero(t, rowCount(t, s, "dead_letters"))
	require.EqualValues(t, 3, rowCount(t, s, "processed_events"))
	requireStats(t, s, event.Stats{Received: 3, UniqueProcessed: 3, Topics: 2})
	// The partitions ahead are back too.
	after := dbNow(t, s)
	requireTiled(t, partitionsIn(t, s, after, after.Add(day)), after, after.Add(day))
}

// backdate moves the stored events of keys, and their keys, age back in
// processing time, into the partition of that time (which must exist), as
// if they had been consumed then.
func backdate(t testing.TB, s *Store, age time.Duration, keys ...event.Key) {
	t.Helper()
	ctx := context.Background()
	var topics, ids []string
	for _, k := range keys {
		topics, ids = append(topics, k.Topic), append(ids, k.EventID)
	}
	for _, table := range []string{"processed_events", "event_keys"} {
		tag, err := s.pool.Exec(ctx, fmt.Sprintf(`
			UPDATE %s SET processed_at = processed_at - $3::interval
			WHERE (topic, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, table),
			topics, ids, age)
		require.NoError(t, err)
		require.EqualValues(t, len(keys), tag.RowsAffected(), table)
	}
}

// A redelivered message is recognised by its events, which the keys lead
// to in whichever partition they are.
func TestRedeliveryIsRecognisedInAnEarlierPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	now := dbNow(t, s)
	require.NoError(t, s.EnsurePartitions(ctx, now.Add(-3*day), now))

	batch := []event.Record{rec("m1", ev("t", "e1", `{}`), ev("t", "e2", `{}`)), rec("m2", ev("t", "e1", `{}`))}
	_, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	backdate(t, s, 2*day, event.Key{Topic: "t", EventID: "e1"}, event.Key{Topic: "t", EventID: "e2"})
	var table string
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM processed_events WHERE event_id = 'e1'`).Scan(&table))
	require.Equal(t, partitionName(now.Add(-2*day).Truncate(day)), table)
	before, err := s.Stats(ctx)
	require.NoError(t, err)

	res, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{AlreadyCommitted: 2}, res)
	requireStats(t, s, before)
}

// Making a partition must not wait for the readers and writers of the
// others: behind it in the lock queue, every consumer would wait too.
func TestEnsurePartitionsDoesNotWaitForReaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	reader, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = reader.Rollback(ctx) }()
	_, err = reader.Exec(ctx, `SELECT count(*) FROM processed_events`)
	require.NoError(t, err)

	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var pid int32
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid))
	done := make(chan error, 1)
	go func() {
		done <- s.ensurePartitions(ctx, conn, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC))
	}()
	var (
		finished  bool
		ensureErr error
	)
	require.Eventually(t, func() bool {
		select {
		case ensureErr = <-done:
			finished = true
			return true
		default:
		}
		var waiting bool
		_ = s.pool.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting)
		return waiting
	}, 30*time.Second, 10*time.Millisecond)
	if !finished {
		require.NoError(t, reader.Rollback(ctx))
		require.NoError(t, <-done)
	}
	require.True(t, finished, "creating a partition waited for a reader of processed_events")
	require.NoError(t, ensureErr)
	require.Len(t, partitionsIn(t, s, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)), 2)

	// A consumer is not held up either, while the reader goes on.
	res, err := s.Consume(ctx, []event.Record{rec("m", ev("t", "e", `{}`))})
	require.NoError(t, err)
	require.Equal(t, 1, res.Unique)
}
