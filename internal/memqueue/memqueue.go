// Package memqueue is an in-memory queue for the unit tests of packages that
// publish or consume. It keeps the semantics of the real queues (one
// consumer group, redelivery after ClaimIdle with delivery counts, a backlog
// limit, a published counter) and can be switched off to test how callers
// handle an unavailable queue. It is safe for concurrent use.
package memqueue

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Options configure a Queue. The zero value gives the defaults.
type Options struct {
	// MaxBacklog is how many unacknowledged events the queue holds before
	// Publish refuses with Overloaded; 0 means no limit.
	MaxBacklog int64
	// ClaimIdle is how long a delivered message may stay unacknowledged
	// before Receive delivers it again; default 30s.
	ClaimIdle time.Duration
	// Block is how long Receive waits for a message when none is ready;
	// default 1s.
	Block time.Duration
}

// Queue is an in-memory queue with one consumer group.
type Queue struct {
	opts Options

	mu        sync.Mutex
	lastSeq   uint64
	ready     []*entry          // published and not yet delivered, oldest first
	pending   map[string]*entry // delivered and not yet acknowledged
	waiting   int64             // events in ready and pending
	published int64
	down      bool
	arrived   chan struct{} // closed, then replaced, when messages are published
}

type entry struct {
	seq         uint64
	id          string
	body        []byte
	events      int
	group       uint32
	consumer    string // the consumer it was last delivered to
	deliveredAt time.Time
	deliveries  int
}

var (
	_ queue.Publisher = (*Queue)(nil)
	_ queue.Counter   = (*Queue)(nil)
	_ queue.Pinger    = (*Queue)(nil)
	_ queue.Consumer  = (*Consumer)(nil)
	_ queue.Extender  = (*Consumer)(nil)
)

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = 30 * time.Second
	}
	if opts.Block <= 0 {
		opts.Block = time.Second
	}
	return &Queue{
		opts:    opts,
		pending: map[string]*entry{},
		arrived: make(chan struct{}),
	}
}

// SetDown makes every operation fail with Unavailable while down is true,
// as if the queue could not be reached. Nothing queued is lost.
func (q *Queue) SetDown(down bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.down = down
}

func unavailable() error {
	return event.Errorf(event.Unavailable, "queue unavailable")
}

// Publish queues every message, or none of them: it refuses with
// Overloaded when the events waiting would exceed MaxBacklog. Publishing
// nothing is a no-op.
func (q *Queue) Publish(ctx context.Context, msgs []queue.Outgoing) error {
	if err := ctx.Err(); err != nil {
		return event.Wrap(event.Unavailable, err, "queue unavailable")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return unavailable()
	}
	if len(msgs) == 0 {
		return nil
	}
	var events int64
	for _, m := range msgs {
		events += int64(m.EventCount())
	}
	if q.opts.MaxBacklog > 0 && q.waiting+events > q.opts.MaxBacklog {
		return event.Errorf(event.Overloaded, "queue backlog is full (%d of %d events waiting); retry later", q.waiting, q.opts.MaxBacklog)
	}
	for _, m := range msgs {
		q.lastSeq++
		q.ready = append(q.ready, &entry{
			seq:    q.lastSeq,
			id:     strconv.FormatUint(q.lastSeq, 10),
			body:   slices.Clone(m.Body),
			events: m.EventCount(),
			group:  m.Group,
		})
	}
	q.published += events
	q.waiting += events
	close(q.arrived)
	q.arrived = make(chan struct{})
	return nil
}

// Published returns how many events have been published in all.
func (q *Queue) Published(ctx context.Context) (int64, error) {
	return q.read(&q.published)
}

// Ping fails with Unavailable while the queue is down.
func (q *Queue) Ping(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return unavailable()
	}
	return nil
}

// Backlog returns how many events are not yet acknowledged, delivered or
// not.
func (q *Queue) Backlog(ctx context.Context) (int64, error) {
	return q.read(&q.waiting)
}

// read returns one of the queue's counts, or Unavailable while it is down.
func (q *Queue) read(count *int64) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return 0, unavailable()
	}
	return *count, nil
}

// Consumer returns the consumer with this name. The queue has one consumer
// group, so consumers share its messages.
func (q *Queue) Consumer(name string) *Consumer {
	return &Consumer{q: q, name: name}
}

// Consumer receives messages for one worker.
type Consumer struct {
	q    *Queue
	name string
}

// Receive returns up to maxMessages messages: first those left
// unacknowledged for ClaimIdle, then new ones, waiting up to Block for a new
// one when none is ready. It returns no messages and no error when the wait
// runs out, and an error that wraps ctx.Err() when ctx ends first.
func (c *Consumer) Receive(ctx context.Context, maxMessages int) ([]queue.Message, error) {
	if maxMessages < 1 {
		return nil, event.Errorf(event.Invalid, "receive at least one message")
	}
	timer := time.NewTimer(c.q.opts.Block)
	defer timer.Stop()
	for {
		msgs, arrived, err := c.take(maxMessages)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		select {
		case <-arrived:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, event.Wrap(event.Unavailable, ctx.Err(), "queue unavailable")
		}
	}
}

// take delivers what is ready now, and otherwise returns the channel that
// is closed when something is published.
func (c *Consumer) take(maxMessages int) ([]queue.Message, <-chan struct{}, error) {
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return nil, nil, unavailable()
	}
	now := time.Now()
	var taken []*entry
	for _, e := range q.pending {
		if now.Sub(e.deliveredAt) >= q.opts.ClaimIdle {
			taken = append(taken, e)
		}
	}
	slices.SortFunc(taken, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	if len(taken) > maxMessages {
		taken = taken[:maxMessages]
	}
	if n := min(maxMessages-len(taken), len(q.ready)); n > 0 {
		taken = append(taken, q.ready[:n]...)
		q.ready = slices.Delete(q.ready, 0, n)
	}
	if len(taken) == 0 {
		return nil, q.arrived, nil
	}
	msgs := make([]queue.Message, len(taken))
	for i, e := range taken {
		e.consumer = c.name
		e.deliveredAt = now
		e.deliveries++
		q.pending[e.id] = e
		msgs[i] = queue.Message{ID: e.id, Body: slices.Clone(e.body), Deliveries: e.deliveries, Events: e.events, Group: e.group}
	}
	return msgs, nil, nil
}

// Ack removes messages for good; unknown IDs are ignored.
func (c *Consumer) Ack(ctx context.Context, ids []string) error {
	return c.q.eachPending(ids, func(e *entry) {
		c.q.waiting -= int64(e.events)
		delete(c.q.pending, e.id)
	})
}

// Extend restarts the idle time of the messages this consumer holds,
// without counting a delivery; other IDs are skipped.
func (c *Consumer) Extend(ctx context.Context, ids []string) error {
	now := time.Now()
	return c.q.eachPending(ids, func(e *entry) {
		if e.consumer == c.name {
			e.deliveredAt = now
		}
	})
}

// eachPending calls f, under the lock, on each delivered and unacknowledged
// message among ids, or fails with Unavailable while the queue is down.
func (q *Queue) eachPending(ids []string, f func(e *entry)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.down {
		return unavailable()
	}
	for _, id := range ids {
		if e, ok := q.pending[id]; ok {
			f(e)
		}
	}
	return nil
}

// Close does nothing: an in-memory consumer holds no resources. It exists so
// that Consumer can stand in for the Redis one.
func (c *Consumer) Close(ctx context.Context) error {
	return nil
}
