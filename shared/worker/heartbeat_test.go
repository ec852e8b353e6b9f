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

// extending is a consumer that records what it was asked to extend.
type extending struct {
	queue.Consumer
	mu       sync.Mutex
	extended [][]string
}

func (e *extending) Extend(_ context.Context, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.extended = append(e.extended, slices.Clone(ids))
	return nil
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
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	c := &extending{Consumer: q.Consumer("w")}
	h := &failing{}
	publish(t, q, 3)
	stop := start(t, &Worker{Consumer: c, Handle: h.Handle, BatchSize: 10, MaxBackoff: 20 * time.Millisecond, Heartbeat: 10 * time.Millisecond})
	defer stop()

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
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	c := &extending{Consumer: q.Consumer("w")}
	h := &failing{}
	publish(t, q, 3)
	stop := start(t, &Worker{Consumer: c, Handle: h.Handle, BatchSize: 10, MaxBackoff: 5 * time.Millisecond})
	defer stop()
	eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.calls >= 5
	}, "retried")
	require.Empty(t, c.calls())
	h.heal()
}
