package worker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/memqueue"
	"github.com/logagg/logagg/shared/queue"
)

// extending is a consumer that records what it was asked to extend, and
// extends it.
type extending struct {
	*memqueue.Consumer
	mu       sync.Mutex
	extended [][]string
}

func (e *extending) Extend(ctx context.Context, ids []string) error {
	e.mu.Lock()
	e.extended = append(e.extended, slices.Clone(ids))
	e.mu.Unlock()
	return e.Consumer.Extend(ctx, ids)
}

func (e *extending) calls() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.extended)
}

// failing is a handler that reports every message failed until healed,
// then succeeds.
type failing struct {
	mu     sync.Mutex
	healed bool
	calls  int
}

func (f *failing) Handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.healed {
		return events.SQSEventResponse{}, nil
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
	}
	return resp, nil
}

func (f *failing) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healed = true
}

func TestHeartbeatExtendsTheBatchWhileItIsRetried(t *testing.T) {
	t.Parallel()
	h := &failing{}
	c, q := startRetrying(t, 3, h.Handle, 10*time.Millisecond)
	eventually(t, func() bool { return len(c.calls()) >= 3 }, "the held batch is extended again and again")
	for _, ids := range c.calls() {
		require.Len(t, ids, 3)
	}
	h.heal()
	eventually(t, func() bool { return backlog(t, q) == 0 }, "the batch is acknowledged once it succeeds")

	// Once the batch is done, nothing is extended any more.
	n := len(c.calls())
	time.Sleep(50 * time.Millisecond)
	require.LessOrEqual(t, len(c.calls()), n+1, "at most a beat already under way")
}

func TestHeartbeatCostsNothingForAQuickBatch(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	c := &extending{Consumer: q.Consumer("w")}
	rec := newRecorder()
	stop := start(t, &Worker{Consumer: c, Handle: rec.Handle, BatchSize: 10, Heartbeat: time.Hour})
	defer stop()
	publish(t, q, 30)
	eventually(t, func() bool { return rec.handled() == 30 && backlog(t, q) == 0 }, "all handled")
	require.Empty(t, c.calls())
}

func TestWithoutHeartbeatNothingIsExtended(t *testing.T) {
	t.Parallel()
	h := &failing{}
	c, _ := startRetrying(t, 3, h.Handle, 0)
	eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.calls >= 5
	}, "retried")
	require.Empty(t, c.calls())
	h.heal()
}

// A Splitter extends the messages waiting in its parts with the same
// heartbeat, and stops extending each once a worker has taken it.
func TestHeartbeatExtendsWhatWaitsInASplittersParts(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	c := &extending{Consumer: q.Consumer("c")}
	publish(t, q, 5)
	split := runSplitter(t, c, 1, 10, 10*time.Millisecond)

	eventually(t, func() bool {
		calls := c.calls()
		return len(calls) >= 2 && len(calls[len(calls)-1]) == 5
	}, "the five buffered messages are extended again and again")
	taken, err := split.Part(0).Receive(context.Background(), 10)
	require.NoError(t, err)
	require.Len(t, taken, 5)

	publish(t, q, 1)
	eventually(t, func() bool {
		calls := c.calls()
		last := calls[len(calls)-1]
		return len(last) == 1 && !slices.Contains(queue.IDs(taken), last[0])
	}, "only the message that arrived since is extended")
}
