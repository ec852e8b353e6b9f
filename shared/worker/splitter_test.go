package worker

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/memqueue"
)

func partOf(body string, parts int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(body))
	return int(h.Sum64() % uint64(parts))
}

// byPart is a consume handler that records which part saw which body.
type byPart struct {
	mu   sync.Mutex
	seen map[string][]int // body → parts that handled it
}

func (b *byPart) handler(part int) HandleFunc {
	return func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range ev.Records {
			b.seen[m.Body] = append(b.seen[m.Body], part)
		}
		return events.SQSEventResponse{}, nil
	}
}

func (b *byPart) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, parts := range b.seen {
		n += len(parts)
	}
	return n
}

func TestSplitterSendsCopiesOfAMessageToOnePart(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	var bodies [][]byte
	for i := range 300 {
		bodies = append(bodies, fmt.Appendf(nil, `{"n":%d}`, i%100)) // each body three times
	}
	require.NoError(t, q.Publish(context.Background(), bodies))

	const parts = 4
	split := NewSplitter(q.Consumer("c"), parts, 16, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { split.Run(ctx) })
	rec := &byPart{seen: map[string][]int{}}
	for i := range parts {
		w := &Worker{Consumer: split.Part(i), Handle: rec.handler(i), BatchSize: 16}
		wg.Go(func() { _ = w.Run(ctx) })
	}
	eventually(t, func() bool { return rec.total() == 300 && backlog(t, q) == 0 }, "all 300 handled and acknowledged")
	cancel()
	wg.Wait()

	used := map[int]bool{}
	for body, ps := range rec.seen {
		require.Len(t, ps, 3, body)
		for _, p := range ps {
			require.Equal(t, partOf(body, parts), p, "every copy of %s went to its own part", body)
			used[p] = true
		}
	}
	require.Len(t, used, parts, "the load is spread over every part")
}

func TestSplitterDrainsWhatItFetchedBeforeTheWorkersStop(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	var bodies [][]byte
	for i := range 200 {
		bodies = append(bodies, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	require.NoError(t, q.Publish(context.Background(), bodies))

	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	handled := 0
	handle := func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		mu.Lock()
		handled += len(ev.Records)
		mu.Unlock()
		return events.SQSEventResponse{}, nil
	}
	split := NewSplitter(q.Consumer("c"), 2, 50, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { split.Run(ctx) })
	for i := range 2 {
		w := &Worker{Consumer: split.Part(i), Handle: handle, BatchSize: 50}
		wg.Go(func() { _ = w.Run(ctx) })
	}
	<-entered
	cancel() // stop while messages are held by the workers and buffered in the parts
	close(release)
	wg.Wait()
	n, err := q.Backlog(context.Background())
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, int64(200-handled), n)
	left, err := q.Consumer("after").Receive(context.Background(), 1000)
	require.NoError(t, err)
	require.Len(t, left, int(n), "what was not handled was never fetched: none of it is pending, all of it is ready for the next consumer")
}
