// Package queuetest is the conformance suite that every queue implementation
// runs: the same tests, through the interfaces of package queue, against a
// fresh queue per test that the implementation's harness sets up.
//
// An implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queuetest.Harness {
//			q := New(…) // a fresh, empty queue honouring opts
//			return queuetest.Harness{Publisher: q, Counter: q, NewConsumer: queuetest.Consumers(q.Consumer)}
//		})
//	}
//
// A capability that a queue may lack is tested when the queue has it, and
// skipped otherwise: Counter when the harness has one, queue.Extender when
// the consumers are extenders. The helpers (Bodies, Receive, ReceiveN,
// Ack…) serve the implementations' own tests too.
package queuetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Options say how a test needs its queue set up.
type Options struct {
	// MaxBacklog is how many unacknowledged messages the queue holds before
	// Publish refuses with Overloaded; 0 means no limit.
	MaxBacklog int64
	// ClaimIdle is how long a received message may stay unacknowledged
	// before the queue delivers it again (SQS: the visibility timeout).
	ClaimIdle time.Duration
	// Wait is the longest Receive should wait when no message is ready.
	Wait time.Duration
}

// Harness is one fresh, empty queue set up as Options ask, and the ways to
// reach it. The harness releases whatever it set up through t.Cleanup.
type Harness struct {
	Publisher queue.Publisher
	// Counter reports what was published; nil when the implementation does
	// not count, and then the tests of the count are skipped.
	Counter queue.Counter
	// NewConsumer returns a consumer of the queue. Distinct names are
	// distinct consumers, as separate workers or processes would be.
	NewConsumer func(name string) queue.Consumer
	// KeepsEvents says the queue hands out each message's Events and Group
	// as published, and that its backlog limit counts events (Redis,
	// memory). SQS keeps neither and counts messages.
	KeepsEvents bool
}

// Consumers adapts an implementation's own Consumer method, which returns
// its concrete type, to Harness.NewConsumer.
func Consumers[C queue.Consumer](consumer func(name string) C) func(name string) queue.Consumer {
	return func(name string) queue.Consumer { return consumer(name) }
}

// Tests of redelivery use a short ClaimIdle so that it is observed quickly;
// the others use a long one so that a slow machine cannot cause a
// redelivery they do not expect. The test of Extend uses one between, ten
// times the Wait that paces its extending. A short Wait makes empty
// receives return soon.
const (
	shortClaimIdle  = 200 * time.Millisecond
	extendClaimIdle = time.Second
	longClaimIdle   = time.Minute
	wait            = 100 * time.Millisecond
)

// Run runs every conformance test, each in parallel on a queue of its own
// made by newHarness.
func Run(t *testing.T, newHarness func(t *testing.T, opts Options) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, newHarness func(t *testing.T, opts Options) Harness)
	}{
		{"ReceiveFromEmptyQueue", testReceiveFromEmptyQueue},
		{"PublishThenReceive", testPublishThenReceive},
		{"BodiesArriveUnchanged", testBodiesArriveUnchanged},
		{"EmptyPublishIsNoOp", testEmptyPublishIsNoOp},
		{"AckRemoves", testAckRemoves},
		{"UnackedReturnsToAnotherConsumer", testUnackedReturnsToAnotherConsumer},
		{"UnackedReturnsToSameConsumer", testUnackedReturnsToSameConsumer},
		{"ConcurrentConsumersShareWork", testConcurrentConsumersShareWork},
		{"PublishOverBacklogIsOverloaded", testPublishOverBacklogIsOverloaded},
		{"PublishedCounts", testPublishedCounts},
		{"MessagesOfSeveralEvents", testMessagesOfSeveralEvents},
		{"BacklogCountsEvents", testBacklogCountsEvents},
		{"ExtendKeepsMessagesFromOthers", testExtendKeepsMessagesFromOthers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newHarness)
		})
	}
}

func defaultOptions() Options {
	return Options{ClaimIdle: longClaimIdle, Wait: wait}
}

func redeliveryOptions() Options {
	return Options{ClaimIdle: shortClaimIdle, Wait: wait}
}

// patience is how long a test polls for something that must happen; it is
// ample, so only a broken queue ever reaches it.
const patience = 30 * time.Second

// quietPeriod is how long a test watches for something that must not
// happen: long enough for an unacknowledged message to have come back.
func quietPeriod(opts Options) time.Duration {
	return 3*opts.ClaimIdle + 3*opts.Wait
}

// Bodies returns n distinct event bodies of topic prefix, each padded to
// size bytes when it is shorter (size 0 leaves them short).
func Bodies(prefix string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := fmt.Appendf(nil, `{"topic":"%s","event_id":"e-%06d","payload":"`, prefix, i)
		b = append(b, bytes.Repeat([]byte("x"), max(size-len(b)-2, 0))...)
		out[i] = append(b, `"}`...)
	}
	return out
}

// BodiesOf returns the bodies of msgs, in order.
func BodiesOf(msgs []queue.Message) [][]byte {
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	return out
}

// Receive calls Receive once and checks what any call must satisfy.
func Receive(t testing.TB, c queue.Consumer, maxMessages int) []queue.Message {
	t.Helper()
	msgs, err := c.Receive(context.Background(), maxMessages)
	require.NoError(t, err)
	require.LessOrEqual(t, len(msgs), maxMessages, "Receive returned more than maxMessages")
	for _, m := range msgs {
		require.NotEmpty(t, m.ID, "message without ID")
		require.GreaterOrEqual(t, m.Deliveries, 1, "message %s delivered %d times", m.ID, m.Deliveries)
	}
	return msgs
}

// ReceiveN receives until n messages have arrived, failing if more arrive
// or if they take longer than patience.
func ReceiveN(t testing.TB, c queue.Consumer, maxMessages, n int) []queue.Message {
	t.Helper()
	deadline := time.Now().Add(patience)
	var got []queue.Message
	for len(got) < n {
		require.False(t, time.Now().After(deadline), "received %d of %d messages in %s", len(got), n, patience)
		got = append(got, Receive(t, c, maxMessages)...)
	}
	require.Len(t, got, n, "received more messages than published")
	return got
}

// RequireCount requires that count, a queue's Published or Backlog,
// answers want.
func RequireCount(t testing.TB, count func(context.Context) (int64, error), want int64, msgAndArgs ...any) {
	t.Helper()
	n, err := count(context.Background())
	require.NoError(t, err)
	require.Equal(t, want, n, msgAndArgs...)
}

// requirePublished requires that the harness's Counter, if it has one,
// answers want.
func (h Harness) requirePublished(t *testing.T, want int64, msgAndArgs ...any) {
	t.Helper()
	if h.Counter != nil {
		RequireCount(t, h.Counter.Published, want, msgAndArgs...)
	}
}

// Ack acknowledges msgs through c.
func Ack(t testing.TB, c queue.Consumer, msgs []queue.Message) {
	t.Helper()
	require.NoError(t, c.Ack(context.Background(), queue.IDs(msgs)))
}

// requireNothing receives with each consumer in turn for the quiet period
// and fails if any message arrives.
func requireNothing(t *testing.T, opts Options, consumers ...queue.Consumer) {
	t.Helper()
	deadline := time.Now().Add(quietPeriod(opts))
	for time.Now().Before(deadline) {
		for _, c := range consumers {
			msgs := Receive(t, c, 10)
			require.Empty(t, msgs, "expected no message, got %d (first: %s, delivery %d)", len(msgs), firstID(msgs), firstDeliveries(msgs))
		}
	}
}

func firstID(msgs []queue.Message) string {
	if len(msgs) == 0 {
		return ""
	}
	return msgs[0].ID
}

func firstDeliveries(msgs []queue.Message) int {
	if len(msgs) == 0 {
		return 0
	}
	return msgs[0].Deliveries
}

func testReceiveFromEmptyQueue(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	h := newHarness(t, opts)
	c := h.NewConsumer("c1")
	msgs := Receive(t, c, 10)
	require.Empty(t, msgs)
}

func testPublishThenReceive(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	h := newHarness(t, opts)
	want := Bodies("publish-receive", 25, 0)
	require.NoError(t, h.Publisher.Publish(context.Background(), queue.Singles(want)))

	c := h.NewConsumer("c1")
	got := ReceiveN(t, c, 10, len(want))
	require.Equal(t, want, BodiesOf(got), "one consumer receives one publish's bodies in order")
	ids := queue.IDs(got)
	slices.Sort(ids)
	require.Len(t, slices.Compact(ids), len(want), "message IDs are unique")
	for _, m := range got {
		require.Equal(t, 1, m.Deliveries, "a message received for the first time has Deliveries 1")
	}
}

func testBodiesArriveUnchanged(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	h := newHarness(t, opts)
	want := [][]byte{
		[]byte(`{"topic":"t","event_id":"1","payload":{"msg":"héllo wörld ✓ 日本語"}}`),
		[]byte("line one\nline two\ttabbed\r\n"),
		[]byte(`"quotes" and \backslashes\ and {"braces"}`),
		[]byte(strings.Repeat("x", 200*1024)),
	}
	require.NoError(t, h.Publisher.Publish(context.Background(), queue.Singles(want)))

	got := ReceiveN(t, h.NewConsumer("c1"), 10, len(want))
	require.Equal(t, want, BodiesOf(got))
}

// An empty Publish succeeds and queues nothing: a caller with nothing to
// send has nothing to fail at.
func testEmptyPublishIsNoOp(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := redeliveryOptions()
	h := newHarness(t, opts)
	ctx := context.Background()
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(nil)))
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles([][]byte{})))

	requireNothing(t, opts, h.NewConsumer("c1"))
	h.requirePublished(t, 0)
}

func testAckRemoves(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := redeliveryOptions()
	h := newHarness(t, opts)
	ctx := context.Background()
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("ack", 5, 0))))

	c1, c2 := h.NewConsumer("c1"), h.NewConsumer("c2")
	got := ReceiveN(t, c1, 10, 5)
	Ack(t, c1, got)
	require.NoError(t, c1.Ack(ctx, queue.IDs(got)), "acknowledging twice is not an error")
	require.NoError(t, c1.Ack(ctx, nil), "acknowledging nothing is not an error")

	requireNothing(t, opts, c1, c2)
}

func testUnackedReturnsToAnotherConsumer(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := redeliveryOptions()
	h := newHarness(t, opts)
	want := []byte(`{"topic":"redeliver","event_id":"1"}`)
	require.NoError(t, h.Publisher.Publish(context.Background(), queue.Singles([][]byte{want})))

	dead, alive := h.NewConsumer("dead"), h.NewConsumer("alive")
	first := ReceiveN(t, dead, 10, 1)[0]
	require.Equal(t, 1, first.Deliveries)

	// "dead" never acknowledges; "alive" gets the message once it has been
	// idle for ClaimIdle.
	again := ReceiveN(t, alive, 10, 1)[0]
	require.Equal(t, first.ID, again.ID, "a redelivered message keeps its ID")
	require.Equal(t, want, again.Body)
	require.Equal(t, 2, again.Deliveries)

	Ack(t, alive, []queue.Message{again})
	requireNothing(t, opts, alive, dead)
}

func testUnackedReturnsToSameConsumer(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := redeliveryOptions()
	h := newHarness(t, opts)
	require.NoError(t, h.Publisher.Publish(context.Background(), queue.Singles(Bodies("same", 1, 0))))

	c := h.NewConsumer("c1")
	var id string
	for delivery := 1; delivery <= 3; delivery++ {
		m := ReceiveN(t, c, 10, 1)[0]
		require.Equal(t, delivery, m.Deliveries)
		if id == "" {
			id = m.ID
		}
		require.Equal(t, id, m.ID)
	}
}

// Two consumers receiving at the same time share the messages: each message
// goes to exactly one of them, and together they get them all.
func testConcurrentConsumersShareWork(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	// With the long ClaimIdle, no message may come back while in flight.
	opts := defaultOptions()
	h := newHarness(t, opts)
	ctx := context.Background()
	const n = 300
	want := Bodies("concurrent", n, 0)
	for i := 0; i < n; i += 50 {
		require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(want[i:i+50])))
	}

	var (
		mu        sync.Mutex
		seen      = map[string]string{} // message ID → consumer that got it
		bodySeen  = map[string]int{}
		problems  []string
		received  atomic.Int64
		wg        sync.WaitGroup
		perWorker [2]int
	)
	deadline := time.Now().Add(patience)
	for w := range 2 {
		name := fmt.Sprintf("c%d", w+1)
		c := h.NewConsumer(name)
		wg.Go(func() {
			for received.Load() < n && time.Now().Before(deadline) {
				msgs, err := c.Receive(ctx, 7)
				if err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s: Receive: %v", name, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				for _, m := range msgs {
					if other, dup := seen[m.ID]; dup {
						problems = append(problems, fmt.Sprintf("%s got %s, already given to %s", name, m.ID, other))
					}
					seen[m.ID] = name
					bodySeen[string(m.Body)]++
					perWorker[w]++
				}
				mu.Unlock()
				received.Add(int64(len(msgs)))
				if err := c.Ack(ctx, queue.IDs(msgs)); err != nil {
					mu.Lock()
					problems = append(problems, fmt.Sprintf("%s: Ack: %v", name, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()

	require.Empty(t, problems)
	require.Len(t, seen, n, "together the consumers received every message")
	for _, b := range want {
		require.Equal(t, 1, bodySeen[string(b)], "body %s", b)
	}
	t.Logf("messages per consumer: %v", perWorker)
}

func testPublishOverBacklogIsOverloaded(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	opts.MaxBacklog = 10
	h := newHarness(t, opts)
	ctx := context.Background()
	requireOverloaded := func(err error) {
		t.Helper()
		require.Error(t, err)
		require.Equal(t, event.Overloaded, event.ErrorCode(err), "error: %v", err)
	}

	requireOverloaded(h.Publisher.Publish(ctx, queue.Singles(Bodies("too-many", 11, 0))))
	h.requirePublished(t, 0)
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("first", 6, 0))))
	requireOverloaded(h.Publisher.Publish(ctx, queue.Singles(Bodies("over", 5, 0))))
	h.requirePublished(t, 6)
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("fill", 4, 0))))
	requireOverloaded(h.Publisher.Publish(ctx, queue.Singles(Bodies("over", 1, 0))))
	h.requirePublished(t, 10)

	// Received but unacknowledged messages still count against the backlog.
	c := h.NewConsumer("c1")
	got := ReceiveN(t, c, 10, 10)
	for _, m := range got {
		require.False(t, strings.Contains(string(m.Body), "over"), "a refused publish queued %s", m.Body)
	}
	requireOverloaded(h.Publisher.Publish(ctx, queue.Singles(Bodies("over", 1, 0))))

	// Once the consumer has acknowledged them, there is room again.
	Ack(t, c, got)
	deadline := time.Now().Add(patience)
	for {
		err := h.Publisher.Publish(ctx, queue.Singles(Bodies("after", 10, 0)))
		if err == nil {
			break
		}
		requireOverloaded(err)
		require.False(t, time.Now().After(deadline), "backlog still full after every message was acknowledged")
		time.Sleep(opts.Wait) // the backlog of some queues is only eventually consistent
	}
	h.requirePublished(t, 20)
	after := ReceiveN(t, c, 10, 10)
	require.Equal(t, Bodies("after", 10, 0), BodiesOf(after))
}

func testPublishedCounts(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	h := newHarness(t, opts)
	if h.Counter == nil {
		t.Skip("the queue under test has no Counter")
	}
	ctx := context.Background()
	h.requirePublished(t, 0)
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("count", 3, 0))))
	h.requirePublished(t, 3)
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("count", 4, 0))))
	h.requirePublished(t, 7)

	// Consuming does not change what was published.
	c := h.NewConsumer("c1")
	Ack(t, c, ReceiveN(t, c, 10, 7))
	h.requirePublished(t, 7)
}

// A message of several events arrives as it was published and counts all
// its events as published.
func testMessagesOfSeveralEvents(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	h := newHarness(t, opts)
	ctx := context.Background()
	want := []queue.Outgoing{
		{Body: []byte(`[{"event_id":"a"},{"event_id":"b"},{"event_id":"c"}]`), Events: 3, Group: 5},
		{Body: []byte(`{"event_id":"d"}`), Events: 1, Group: 11},
	}
	require.NoError(t, h.Publisher.Publish(ctx, want))
	h.requirePublished(t, 4, "published counts events, not messages")
	got := ReceiveN(t, h.NewConsumer("c1"), 10, 2)
	for i, m := range got {
		require.Equal(t, want[i].Body, m.Body)
		if h.KeepsEvents {
			require.Equal(t, want[i].Events, m.Events)
			require.Equal(t, want[i].Group, m.Group)
		}
		require.Equal(t, max(m.Events, 1), m.EventCount())
	}
}

// The backlog limit counts the events of the messages waiting, where the
// queue keeps them.
func testBacklogCountsEvents(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := defaultOptions()
	opts.MaxBacklog = 10
	h := newHarness(t, opts)
	if !h.KeepsEvents {
		t.Skip("the queue under test counts its backlog in messages")
	}
	ctx := context.Background()
	eight := queue.Outgoing{Body: []byte(`[1,2,3,4,5,6,7,8]`), Events: 8}
	require.NoError(t, h.Publisher.Publish(ctx, []queue.Outgoing{eight}))
	err := h.Publisher.Publish(ctx, queue.Singles(Bodies("over", 3, 0)))
	require.Equal(t, event.Overloaded, event.ErrorCode(err), "8 + 3 events are over 10: %v", err)
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("fits", 2, 0))))

	// Acknowledging the message of eight makes room for eight more.
	c := h.NewConsumer("c1")
	got := ReceiveN(t, c, 10, 3)
	require.Equal(t, eight.Body, got[0].Body)
	Ack(t, c, got[:1])
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("room", 8, 0))))
	err = h.Publisher.Publish(ctx, queue.Singles(Bodies("over", 1, 0)))
	require.Equal(t, event.Overloaded, event.ErrorCode(err), "2 + 8 events fill the backlog: %v", err)
}

// A consumer that extends the messages it holds keeps them from other
// consumers for as long as it goes on extending, without counting a
// delivery; once it stops, they are reclaimed as usual.
func testExtendKeepsMessagesFromOthers(t *testing.T, newHarness func(*testing.T, Options) Harness) {
	opts := Options{ClaimIdle: extendClaimIdle, Wait: wait}
	h := newHarness(t, opts)
	holder, other := h.NewConsumer("holder"), h.NewConsumer("other")
	ext, ok := holder.(queue.Extender)
	if !ok {
		t.Skip("the queue under test cannot extend")
	}
	ctx := context.Background()
	require.NoError(t, h.Publisher.Publish(ctx, queue.Singles(Bodies("extend", 3, 0))))
	held := ReceiveN(t, holder, 10, 3)

	// Each round extends, then lets the other consumer wait up to Wait for
	// a message: the holder extends far more often than ClaimIdle, for
	// longer than it takes an unextended message to come back.
	deadline := time.Now().Add(quietPeriod(opts))
	for time.Now().Before(deadline) {
		require.NoError(t, ext.Extend(ctx, queue.IDs(held)))
		require.Empty(t, queue.IDs(Receive(t, other, 10)), "another consumer took messages that were being extended")
	}

	again := ReceiveN(t, other, 10, 3)
	require.ElementsMatch(t, queue.IDs(held), queue.IDs(again), "once the holder stops extending, the messages come back")
	for _, m := range again {
		require.Equal(t, 2, m.Deliveries, "extending counts no delivery")
	}
	require.NoError(t, ext.Extend(ctx, queue.IDs(held)), "extending what another consumer took over is not an error")
	Ack(t, other, again)
	require.NoError(t, ext.Extend(ctx, queue.IDs(held)), "extending acknowledged messages is not an error")
	require.NoError(t, ext.Extend(ctx, nil), "extending nothing is not an error")
}
