package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/logagg/logagg/shared/event"
	"github.com/stretchr/testify/require"
)

// Concurrent consumers must not make the listing disagree with the
// processed_at it returns: a transaction that started earlier may insert its
// rows after one that started later.
func TestEventsOrderAgreesWithProcessedAtUnderConcurrentLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	const workers, batches, perBatch = 6, 25, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]event.Record, 0, perBatch)
				for i := range perBatch {
					recs = append(recs, rec(fmt.Sprintf("m%d-%d-%d", w, b, i), ev("t", fmt.Sprintf("e%d-%d-%d", w, b, i), `{}`)))
				}
				_, err := s.Consume(ctx, recs)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	seen := map[string]bool{}
	var after *event.Position
	var prev *event.StoredEvent
	outOfOrder := 0
	for {
		page, err := s.Events(ctx, event.Filter{Limit: 100, After: after})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		for i := range page {
			e := page[i]
			require.False(t, seen[e.EventID], "%s listed twice", e.EventID)
			seen[e.EventID] = true
			if prev != nil && e.ProcessedAt.After(prev.ProcessedAt) {
				outOfOrder++
			}
			prev = &page[i]
		}
		p := page[len(page)-1].Position()
		after = &p
	}
	require.Len(t, seen, workers*batches*perBatch)
	require.Zero(t, outOfOrder, "pairs listed newest first whose processed_at says otherwise")
}
