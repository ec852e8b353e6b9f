package worker

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/memqueue"
	"github.com/logagg/logagg/shared/queue"
)

// partOf is the part a body published by queue.Singles goes to.
func partOf(body string, parts int) int {
	return int(queue.Singles([][]byte{[]byte(body)})[0].Group) % parts
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
	require.NoError(t, q.Publish(context.Background(), queue.Singles(bodies)))

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
	require.NoError(t, q.Publish(context.Background(), queue.Singles(bodies)))

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

// A part hands out batches of at most the batch size in events, never
// splitting a message; a message larger than the batch goes alone.
func TestSplitterBatchesCountEvents(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	var msgs []queue.Outgoing
	for i := range 60 {
		n := []int{1, 7, 20}[i%3]
		msgs = append(msgs, queue.Outgoing{Body: fmt.Appendf(nil, "%d:%d", n, i), Events: n, Group: uint32(i % 5)})
	}
	require.NoError(t, q.Publish(context.Background(), msgs))

	const batch = 16
	split := NewSplitter(q.Consumer("c"), 2, batch, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		batches [][]int // events of each message, per batch
		handled int
	)
	wg.Go(func() { split.Run(ctx) })
	for i := range 2 {
		w := &Worker{Consumer: split.Part(i), BatchSize: batch, Handle: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			var sizes []int
			for _, r := range ev.Records {
				var n, i int
				_, err := fmt.Sscanf(r.Body, "%d:%d", &n, &i)
				require.NoError(t, err)
				sizes = append(sizes, n)
			}
			mu.Lock()
			batches = append(batches, sizes)
			handled += len(sizes)
			mu.Unlock()
			return events.SQSEventResponse{}, nil
		}}
		wg.Go(func() { _ = w.Run(ctx) })
	}
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return handled == 60 }, "all 60 messages handled")
	eventually(t, func() bool { return backlog(t, q) == 0 }, "all acknowledged")
	cancel()
	wg.Wait()

	shared := 0
	for _, sizes := range batches {
		sum := 0
		for _, n := range sizes {
			sum += n
		}
		if len(sizes) > 1 {
			shared++
			require.LessOrEqual(t, sum, batch, "a batch of several messages carries at most %d events: %v", batch, sizes)
		}
	}
	require.Positive(t, shared, "small messages share batches")
}

// groupMessages are n one-event messages of group, with bodies prefix-i.
func groupMessages(prefix string, n int, group uint32) []queue.Outgoing {
	msgs := make([]queue.Outgoing, n)
	for i := range msgs {
		msgs[i] = queue.Outgoing{Body: fmt.Appendf(nil, "%s-%d", prefix, i), Events: 1, Group: group}
	}
	return msgs
}

// runSplitter runs a splitter of src's messages until the test ends.
func runSplitter(t *testing.T, src queue.Consumer, parts, batch int, heartbeat time.Duration) *Splitter {
	split := NewSplitter(src, parts, batch, heartbeat, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { split.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return split
}

func TestSplitterFetchesForAPartRunningLowWhileAnotherIsFull(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	// Part 0's messages come first, more than a batch of them; part 1's
	// are behind them in the queue.
	require.NoError(t, q.Publish(context.Background(), append(groupMessages("p0", 25, 0), groupMessages("p1", 5, 1)...)))

	const batch = 10
	split := runSplitter(t, q.Consumer("c"), 2, batch, 0)

	// Nobody takes part 0's batch, yet part 1 gets its messages.
	var got []queue.Message
	eventually(t, func() bool {
		m, err := split.Part(1).Receive(context.Background(), batch)
		require.NoError(t, err)
		got = append(got, m...)
		return len(got) == 5
	}, "part 1 received its 5 messages")
	for _, m := range got {
		require.Contains(t, string(m.Body), "p1-")
	}
}

func TestSplitterBoundsWhatOnePartHolds(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	require.NoError(t, q.Publish(context.Background(), groupMessages("p0", 200, 0)))

	const batch = 10
	split := runSplitter(t, q.Consumer("c"), 2, batch, 0)

	held := func() int {
		split.mu.Lock()
		defer split.mu.Unlock()
		return split.parts[0].events
	}
	eventually(t, func() bool { return held() >= partLimit*batch }, "part 0 filled up to its limit")
	// The fetching has paused: what part 0 holds stays below the limit
	// plus one fetch, however long the splitter runs.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		require.Less(t, held(), partLimit*batch+2*batch)
		runtime.Gosched()
	}
	require.Less(t, held(), 200)
}
