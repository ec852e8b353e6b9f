package queue

import "context"

// Consumer takes messages off the queue for one consumer (worker).
type Consumer interface {
	// Receive returns at most maxMessages messages, waiting a short while
	// for the first when none is ready (then it returns none and no
	// error). It also returns messages left unacknowledged by this or a
	// dead consumer once they have been idle long enough, so nothing waits
	// forever. A consumer may bound a call further: a worker.Part also
	// keeps to maxMessages events, which is never more messages.
	Receive(ctx context.Context, maxMessages int) ([]Message, error)
	// Ack removes messages for good. Acknowledging an unknown or already
	// acknowledged ID is not an error. A queue that knows which consumer
	// holds a message (an OwnAcker) leaves alone one that another consumer
	// has taken over.
	Ack(ctx context.Context, ids []string) error
}

// OwnAcker is a Consumer that acknowledges only the messages it still
// holds, and tells which of those it had received it no longer does:
// another consumer reclaimed them while this one held them past the claim
// threshold (it was paused, or cut off from the queue), and they are that
// consumer's to acknowledge now. A consumer that wakes from such a pause
// is a zombie: whatever it does with those messages late, the store's
// ledger keeps it from counting twice, and this keeps it from
// acknowledging what it no longer holds.
type OwnAcker interface {
	// AckOwn acknowledges the messages with these IDs that this consumer
	// still holds, as Ack does, and reports those it had received and
	// found taken over, or already acknowledged by their new holder.
	AckOwn(ctx context.Context, ids []string) (TakenOver, error)
}

// TakenOver is what an acknowledgement found taken over.
type TakenOver struct {
	Messages int
	Events   int // the events those messages carry
}

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

// IDs returns the IDs of msgs, in order.
func IDs(msgs []Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// Extender is a Consumer that can keep the messages it holds from being
// reclaimed by other consumers while it is still working on them.
type Extender interface {
	// Extend restarts the idle time of the messages with these IDs that
	// this consumer still holds, without counting a delivery, so that
	// only the messages of a consumer that stopped extending (one that
	// died) are reclaimed, and delivery counts count such deaths rather
	// than retries. IDs it no longer holds, acknowledged or unknown ones
	// are skipped without error.
	Extend(ctx context.Context, ids []string) error
}

// Buffered is a Consumer that holds messages already taken off the queue
// before it hands them out (a worker.Part). A worker that is told to stop
// goes on receiving while Pending reports that some may still come, so that
// none is left held for another consumer to reclaim.
type Buffered interface {
	Pending() bool
}
