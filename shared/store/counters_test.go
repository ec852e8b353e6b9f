package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/queue"
)

var _ queue.Counter = (*Store)(nil)

func TestPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	n, err := s.Published(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 10 {
		wg.Go(func() {
			for range 10 {
				errs <- s.AddPublished(ctx, 3)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.AddPublished(ctx, 0))

	n, err = s.Published(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 300, n)
}

func TestPruneLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	batch := []Record{rec("m1", ev("t", "e1", `{}`)), rec("m2", ev("t", "e2", `{}`))}
	_, err := s.Consume(ctx, batch)
	require.NoError(t, err)

	pruned, err := s.PruneLedger(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Zero(t, pruned)
	res, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, Result{AlreadyCommitted: 2}, res)

	pruned, err = s.PruneLedger(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, pruned)
	require.Zero(t, rowCount(t, s, "consumed_messages"))

	// Forgotten messages are consumed again; their events stay stored once.
	res, err = s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, Result{Received: 2, Duplicates: 2}, res)
	require.EqualValues(t, 2, rowCount(t, s, "processed_events"))
}
