package event

// The types of consuming a batch of queue messages: what goes in and what
// came of it.

// Record is one queue message handed to the store to consume.
type Record struct {
	MessageID  string  // queue message ID: the ledger key that makes redelivery harmless
	Events     []Event // the valid events the message carries
	Body       []byte  // the raw body, kept when the message is dead-lettered
	DeadReason string  // when set, the message is dead-lettered instead of processed
	DeadCount  int     // events a dead-lettered message stands for (at least 1)
}

// BatchResult says what consuming one batch changed.
type BatchResult struct {
	Received         int // events taken in (Unique + Duplicates)
	Unique           int // new rows
	Duplicates       int // events dropped as duplicates
	Conflicts        int // duplicates whose payload differed from the stored one
	DeadLettered     int // events set aside
	AlreadyCommitted int // messages skipped because an earlier batch committed them

	// Conflicted names the first payload conflicts, at most NamedConflicts
	// of them, so that a log line can say which events they were about
	// without the batch carrying every key back.
	Conflicted []Conflict
	// DeadLetters are the dead_letters rows written (one per message; Body
	// and CreatedAt left empty).
	DeadLetters []DeadLetter
}

// NamedConflicts bounds BatchResult.Conflicted.
const NamedConflicts = 5

// Conflict is a dropped duplicate whose payload differed from the stored
// event's.
type Conflict struct {
	Topic, EventID string
	MessageID      string // the queue message that carried the duplicate
}
