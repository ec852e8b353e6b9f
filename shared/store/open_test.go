package store

import (
	"context"
	"errors"
	"sync"
	"testing"

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
