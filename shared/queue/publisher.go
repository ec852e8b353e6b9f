package queue

import "context"

// Publisher puts messages on the queue.
type Publisher interface {
	// Publish queues every message and returns only once all of them are
	// durably queued, or none is and an error says why: an *event.Error
	// with code Overloaded when the backlog is over its limit, Unavailable
	// when the queue cannot be reached.
	Publish(ctx context.Context, msgs []Outgoing) error
}

// Outgoing is a message on its way to the queue.
type Outgoing struct {
	// Body is one event object, or a JSON array of events.
	Body []byte
	// Events is how many events Body carries; it is what the published
	// counter and the backlog limit count. Below 1 counts as 1.
	Events int
	// Group routes the message: a consumer that splits messages among several
	// workers gives all messages of one group to the same worker. Every
	// copy of an event is published in the same group (see GroupOf).
	Group uint32
}

// EventCount is m.Events, at least 1.
func (m Outgoing) EventCount() int { return max(m.Events, 1) }

// Counter is a queue, or a store beside it, that reports how many events
// publishers have queued in all, for /stats.
type Counter interface {
	Published(ctx context.Context) (int64, error)
}
