// Package queue declares what logagg needs of a message queue. Redis Streams
// (local), SQS (cloud) and an in-memory queue (tests) implement it, and all
// of them pass the conformance suite in queuetest.
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
	// Group routes the message: a consumer that deals messages to several
	// workers gives all messages of one group to the same worker. Every
	// copy of an event is published in the same group (see GroupOf).
	Group uint32
}

// EventCount is m.Events, at least 1.
func (m Outgoing) EventCount() int { return max(m.Events, 1) }

// Message is one message taken off the queue.
type Message struct {
	ID         string // unique for the life of the queue; the consumed-message ledger's key
	Body       []byte
	Deliveries int // how many times it has been delivered, this one included
	// Events and Group are the Outgoing's, where the queue keeps them
	// (Redis, memory); SQS does not, and gives Events 1 and Group 0.
	Events int
	Group  uint32
}

// EventCount is m.Events, at least 1.
func (m Message) EventCount() int { return max(m.Events, 1) }

// Consumer takes messages off the queue for one consumer (worker).
type Consumer interface {
	// Receive returns at most max messages, waiting a short while for the
	// first when none is ready (then it returns none and no error). It also
	// returns messages left unacknowledged by this or a dead consumer once
	// they have been idle long enough, so nothing waits forever.
	Receive(ctx context.Context, max int) ([]Message, error)
	// Ack removes messages for good. Acknowledging an unknown or already
	// acknowledged ID is not an error.
	Ack(ctx context.Context, ids []string) error
}

// Counter reports how many events publishers have queued in all.
type Counter interface {
	Published(ctx context.Context) (int64, error)
}

// Pinger reports whether the queue can be reached.
type Pinger interface {
	Ping(ctx context.Context) error
}
