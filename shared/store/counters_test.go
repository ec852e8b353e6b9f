package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
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

	// m1 and m2 store new events, which carry their message IDs; m3 and m4
	// carry duplicates, so only they need a ledger entry.
	batch := []event.Record{
		rec("m1", ev("t", "e1", `{}`)), rec("m2", ev("t", "e2", `{}`)),
		rec("m3", ev("t", "e1", `{}`)), rec("m4", ev("t", "e2", `{}`)),
	}
	res, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 4, Unique: 2, Duplicates: 2}, res)
	require.EqualValues(t, 2, rowCount(t, s, "consumed_messages"))

	pruned, err := s.PruneLedger(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Zero(t, pruned)
	res, err = s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{AlreadyCommitted: 4}, res)

	pruned, err = s.PruneLedger(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 2, pruned)
	require.Zero(t, rowCount(t, s, "consumed_messages"))

	// The messages that stored their events are still recognised; the
	// forgotten ones are consumed again, their events still stored once.
	res, err = s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{AlreadyCommitted: 2, Received: 2, Duplicates: 2}, res)
	require.EqualValues(t, 2, rowCount(t, s, "processed_events"))
}
