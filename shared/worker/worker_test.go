package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/memqueue"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/queue"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting: " + msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder is a consume handler that records every record it saw and can
// fail some of them the first times.
type recorder struct {
	mu        sync.Mutex
	seen      map[string]int // message ID → times handled
	bodies    map[string]string
	attrs     []map[string]string
	failFirst bool          // report the first record of the first batch as failed
	errOnce   bool          // return a top-level error once
	block     chan struct{} // when set, Handle waits on it
	entered   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, bodies: map[string]string{}}
}

func (r *recorder) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if r.entered != nil {
		select {
		case r.entered <- struct{}{}:
		default:
		}
	}
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errOnce {
		r.errOnce = false
		return events.SQSEventResponse{}, errors.New("boom")
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		r.seen[m.MessageId]++
		r.bodies[m.MessageId] = m.Body
		r.attrs = append(r.attrs, m.Attributes)
		if r.failFirst {
			r.failFirst = false
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func (r *recorder) handled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func publish(t *testing.T, q *memqueue.Queue, n int) {
	t.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"n":%d}`, i)
	}
	require.NoError(t, q.Publish(context.Background(), queue.Singles(bodies)))
}

func backlog(t *testing.T, q *memqueue.Queue) int64 {
	n, err := q.Backlog(context.Background())
	require.NoError(t, err)
	return n
}

// start runs w until stop is called, which fails the test unless w then
// stops cleanly.
func start(t *testing.T, w *Worker) (stop func()) {
	return testenv.RunUntilStopped(t, 10*time.Second, w.Run)
}

// startRetrying starts a worker with quick retries on n messages, one
// batch, of a queue that never reclaims them, so that every redelivery is
// the worker's own retry; it returns what the worker was asked to extend.
func startRetrying(t *testing.T, n int, handle HandleFunc, heartbeat time.Duration) (*extending, *memqueue.Queue) {
	t.Helper()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	c := &extending{Consumer: q.Consumer("w")}
	publish(t, q, n)
	t.Cleanup(start(t, &Worker{Consumer: c, Handle: handle, BatchSize: n, MaxBackoff: 20 * time.Millisecond, Heartbeat: heartbeat}))
	return c, q
}

func TestWorkerConsumesAndAcknowledges(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	rec := newRecorder()
	stop := start(t, &Worker{Consumer: q.Consumer("w"), Handle: rec.Handle, BatchSize: 7, Source: "test:stream"})
	defer stop()
	publish(t, q, 50)
	eventually(t, func() bool { return rec.handled() == 50 && backlog(t, q) == 0 }, "all 50 handled and acknowledged")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range rec.attrs {
		require.Equal(t, "1", a["ApproximateReceiveCount"])
	}
	for id, n := range rec.seen {
		require.Equal(t, 1, n, id)
	}
}

func TestWorkerRetriesATopLevelError(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	rec.errOnce = true
	_, q := startRetrying(t, 10, rec.Handle, 0)
	eventually(t, func() bool { return rec.handled() == 10 && backlog(t, q) == 0 },
		"a top-level error is retried by the same worker, long before the claim threshold")
}

func TestWorkerRetriesOnlyTheFailedItems(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	rec.failFirst = true
	_, q := startRetrying(t, 6, rec.Handle, 0)
	eventually(t, func() bool { return rec.handled() == 6 && backlog(t, q) == 0 }, "all handled and acknowledged")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	twice := 0
	for _, n := range rec.seen {
		require.LessOrEqual(t, n, 2)
		if n == 2 {
			twice++
		}
	}
	require.Equal(t, 1, twice, "only the reported failure was handed over again")
}

func TestWorkerFinishesItsBatchOnStop(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	rec := newRecorder()
	rec.block = make(chan struct{})
	rec.entered = make(chan struct{}, 1)
	publish(t, q, 5)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Worker{Consumer: q.Consumer("w"), Handle: rec.Handle, BatchSize: 5}).Run(ctx)
	}()
	<-rec.entered
	cancel() // stop requested while the batch is in flight
	select {
	case <-done:
		t.Fatal("Run returned before its in-flight batch finished")
	default:
	}
	close(rec.block)
	require.NoError(t, <-done)
	require.Equal(t, 5, rec.handled())
	require.Zero(t, backlog(t, q), "the in-flight batch was acknowledged before Run returned")
}

func TestWorkerStopBoundsAllBatchesStillToFinishTogether(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	var msgs []queue.Outgoing
	for i := range 5 {
		msgs = append(msgs, queue.Outgoing{Body: fmt.Appendf(nil, "m%d", i), Events: 1})
	}
	require.NoError(t, q.Publish(context.Background(), msgs))

	// The part holds all five; the worker takes one at a time, and its
	// handler hangs until its context ends, as with the database hung.
	split := NewSplitter(q.Consumer("c"), 1, 5, 0, nil)
	entered := make(chan struct{}, 1)
	var mu sync.Mutex
	var doneAtEntry []bool
	w := &Worker{Consumer: split.Part(0), BatchSize: 1, FinishTimeout: 50 * time.Millisecond,
		Handle: func(ctx context.Context, _ events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			doneAtEntry = append(doneAtEntry, ctx.Err() != nil)
			mu.Unlock()
			select {
			case entered <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return events.SQSEventResponse{}, ctx.Err()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { split.Run(ctx) })
	wg.Go(func() { _ = w.Run(ctx) })
	<-entered
	cancel()
	wg.Wait()

	// The batch in flight had FinishTimeout; the ones after it found that
	// time already spent rather than getting FinishTimeout each.
	require.Len(t, doneAtEntry, 5, "the worker drained the part")
	require.False(t, doneAtEntry[0])
	require.Equal(t, []bool{true, true, true, true}, doneAtEntry[1:])
	require.EqualValues(t, 5, backlog(t, q), "nothing acknowledged")
}

// flaky is a consumer whose first receives fail and whose
// acknowledgements can be made to fail.
type flaky struct {
	*memqueue.Consumer
	mu           sync.Mutex
	failReceives int // receives still to fail
	receives     int
	failAcks     bool
	acks         int
}

func (f *flaky) Receive(ctx context.Context, maxMessages int) ([]queue.Message, error) {
	f.mu.Lock()
	f.receives++
	fail := f.failReceives > 0
	if fail {
		f.failReceives--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("queue down")
	}
	return f.Consumer.Receive(ctx, maxMessages)
}

func (f *flaky) Ack(ctx context.Context, ids []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks++
	if f.failAcks {
		return errors.New("ack lost")
	}
	return f.Consumer.Ack(ctx, ids)
}

func TestWorkerRetriesReceiveUntilTheQueueAnswers(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond})
	c := &flaky{Consumer: q.Consumer("w"), failReceives: 3}
	publish(t, q, 4)
	rec := newRecorder()
	t.Cleanup(start(t, &Worker{Consumer: c, Handle: rec.Handle, BatchSize: 4, MaxBackoff: 20 * time.Millisecond}))
	eventually(t, func() bool { return rec.handled() == 4 && backlog(t, q) == 0 }, "handled once the queue answers")
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Greater(t, c.receives, 3, "the failed receives were retried")
}

func TestWorkerDoesNotRetryABatchWhoseAcknowledgementFailed(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	c := &flaky{Consumer: q.Consumer("w"), failAcks: true}
	rec := newRecorder()
	rec.failFirst = true // one message is left to retry after the failed ack
	publish(t, q, 3)
	t.Cleanup(start(t, &Worker{Consumer: c, Handle: rec.Handle, BatchSize: 3, MaxBackoff: 20 * time.Millisecond}))
	eventually(t, func() bool { return rec.handled() == 3 }, "the batch is handled")

	// The worker handles messages one batch at a time: once a later one
	// is handled, it is done with the first.
	publish(t, q, 1)
	eventually(t, func() bool { return rec.handled() == 4 }, "the worker moved on to the next batch")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for id, n := range rec.seen {
		require.Equal(t, 1, n, "%s: a batch that committed is not handled again after its ack failed", id)
	}
}

func TestWorkerLeavesWhatStillFailsPendingOnStop(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	publish(t, q, 3)
	h := &failing{}
	stop := start(t, &Worker{Consumer: q.Consumer("w"), Handle: h.Handle, BatchSize: 3, MaxBackoff: 20 * time.Millisecond})
	eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.calls >= 2
	}, "the batch is retried")
	stop()
	require.EqualValues(t, 3, backlog(t, q), "the failed batch stays pending for a consumer to reclaim")
}
