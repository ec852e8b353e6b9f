package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/migrations"
	"github.com/logagg/logagg/shared/event"
)

func TestOpenConcurrentlyOnFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewDatabase(t)

	const replicas = 2
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, url, Options{}) })
	}
	wg.Wait()
	for i := range replicas {
		require.NoError(t, errs[i])
		t.Cleanup(stores[i].Close)
	}

	names, err := migrate.FindMigrations(migrations.FS)
	require.NoError(t, err)
	var version int
	require.NoError(t, stores[0].pool.QueryRow(ctx, "SELECT version FROM "+migrations.VersionTable).Scan(&version))
	require.Equal(t, len(names), version)
	require.EqualValues(t, defaultShards, rowCount(t, stores[0], "stats_shards"))
	require.EqualValues(t, defaultShards, rowCount(t, stores[0], "published_counts"))

	// Both replicas write to the one schema.
	for i, s := range stores {
		res, err := s.Consume(ctx, []event.Record{rec("m", ev("t", "e", `{}`))})
		require.NoError(t, err)
		require.Equal(t, 1-i, res.Unique)
		require.Equal(t, i, res.AlreadyCommitted)
	}
}

func TestOpenWithMoreShardsAddsRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewDatabase(t)

	small, err := Open(ctx, url, Options{Shards: 2, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(small.Close)
	require.EqualValues(t, 2, rowCount(t, small, "stats_shards"))

	big, err := Open(ctx, url, Options{Shards: 5})
	require.NoError(t, err)
	t.Cleanup(big.Close)
	require.EqualValues(t, 5, rowCount(t, big, "stats_shards"))
	require.EqualValues(t, 5, rowCount(t, big, "published_counts"))

	// Counts from every shard add up, whichever Store wrote them.
	for i := range 10 {
		s := small
		if i%2 == 1 {
			s = big
		}
		_, err := s.Consume(ctx, []event.Record{rec("m"+string(rune('a'+i)), ev("t", "e", `{}`))})
		require.NoError(t, err)
	}
	requireStats(t, small, event.Stats{Received: 10, UniqueProcessed: 1, DuplicateDropped: 9, Topics: 1})
	requireStats(t, big, event.Stats{Received: 10, UniqueProcessed: 1, DuplicateDropped: 9, Topics: 1})
}

func TestOpenUnreachableNamesHostNotPassword(t *testing.T) {
	t.Parallel()
	// Port 1 on the loopback interface refuses connections.
	_, err := Open(context.Background(), "postgres://logagg:s3cret-pw@127.0.0.1:1/logagg?sslmode=disable", Options{})
	require.Error(t, err)
	require.Equal(t, event.Unavailable, event.ErrorCode(err))
	var e *event.Error
	require.True(t, errors.As(err, &e))
	require.Contains(t, e.Message, "127.0.0.1:1")
	require.NotContains(t, err.Error(), "s3cret-pw")
}

// A database that does not exist will not appear by waiting: Open says so
// at once, with PostgreSQL's reason and without the password.
func TestOpenMissingDatabaseIsRefusedNotUnavailable(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), testenv.MissingDatabaseURL(t, "s3cret-pw"), Options{})
	require.Error(t, err)
	require.Equal(t, event.Invalid, event.ErrorCode(err), "%v", err)
	require.ErrorContains(t, err, "does not exist")
	require.NotContains(t, err.Error(), "s3cret-pw")
}

func TestOpenMalformedURL(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), "postgres://logagg:s3cret-pw@127.0.0.1:5432/x?sslmode=bogus", Options{})
	require.Error(t, err)
	require.Equal(t, event.Invalid, event.ErrorCode(err))
	require.NotContains(t, err.Error(), "s3cret-pw")
}

func TestPing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	require.NoError(t, s.Ping(context.Background()))
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewDatabase(t), Options{})
	require.NoError(t, err)
	s.Close()

	_, err = s.Consume(ctx, []event.Record{rec("m", ev("t", "e", `{}`))})
	require.Equal(t, event.Unavailable, event.ErrorCode(err))
	_, err = s.Stats(ctx)
	require.Equal(t, event.Unavailable, event.ErrorCode(err))
	_, err = s.Events(ctx, event.Filter{})
	require.Equal(t, event.Unavailable, event.ErrorCode(err))
	require.Equal(t, event.Unavailable, event.ErrorCode(s.Ping(ctx)))
}

func TestOpenSetsTheIdleInTransactionTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	for opt, want := range map[time.Duration]string{
		0:                       DefaultIdleInTransactionTimeout.String(),
		1500 * time.Millisecond: "1500ms",
		-1:                      "0", // the server's own setting, here its default
	} {
		s, err := Open(ctx, url, Options{IdleInTransactionTimeout: opt, MaxConns: 1})
		require.NoError(t, err)
		var got string
		require.NoError(t, s.pool.QueryRow(ctx, `SHOW idle_in_transaction_session_timeout`).Scan(&got))
		s.Close()
		require.Equal(t, want, got, "IdleInTransactionTimeout %s", opt)
	}
}

func TestOpenTurnsParallelQueryOffUnlessTheURLSaysOtherwise(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for u, want := range map[string]string{
		url: "0",
		url + sep + "max_parallel_workers_per_gather=1": "1",
	} {
		s, err := Open(ctx, u, Options{MaxConns: 1})
		require.NoError(t, err)
		var got string
		require.NoError(t, s.pool.QueryRow(ctx, `SHOW max_parallel_workers_per_gather`).Scan(&got))
		s.Close()
		require.Equal(t, want, got, u)
	}
}

// A consumer stopped inside its consume transaction, after the round trip
// that inserted its events, holds their keys' row locks; another consumer
// that took its messages over waits on them when it inserts the same
// keys. The timeout ends the stopped one's session, so that the other
// commits; the stopped one's next round trip fails as the database being
// unavailable, and its retry finds the messages committed and counts
// nothing.
func TestAnIdleTransactionIsEndedSoThatConsumeDoesNotWaitOnItsLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewDatabase(t), Options{IdleInTransactionTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	recs := []event.Record{rec("m1", ev("t", "e1", `{}`), ev("t", "e2", `{}`))}

	// The stopped consumer: the first round trip of commitAssumingFresh.
	stopped, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer stopped.Release()
	plan := planBatch(recs, map[string]bool{"m1": true})
	inserted := map[event.Key]int64{}
	first := &pgx.Batch{}
	first.Queue(beginSQL)
	plan.queueWrites(first, inserted)
	require.NoError(t, stopped.SendBatch(ctx, first).Close())
	require.Len(t, inserted, 2, "the stopped consumer holds both keys")

	// Without the timeout this would wait for as long as the other stays
	// stopped: here, until the deadline.
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := s.Consume(waitCtx, recs)
	require.NoError(t, err)
	require.Equal(t, 2, res.Unique)

	second := &pgx.Batch{}
	plan.queueEvents(second, inserted)
	plan.queueCounts(second, inserted, s.shard())
	second.Queue("COMMIT")
	err = stopped.SendBatch(ctx, second).Close()
	require.Error(t, err, "the stopped consumer's session was ended")
	require.Equal(t, failUnavailable, failureOf(err), "%v", err)

	res, err = s.Consume(ctx, recs)
	require.NoError(t, err)
	require.Equal(t, 1, res.AlreadyCommitted, "the retry finds the message committed")
	requireStats(t, s, event.Stats{Received: 2, UniqueProcessed: 2, Topics: 1})
	require.Equal(t, int64(2), rowCount(t, s, "processed_events"))
}
