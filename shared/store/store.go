// Package store is logagg's PostgreSQL layer and the only code that writes
// rows: it applies the embedded migrations, commits consumed batches
// exactly once, and answers the read queries.
package store

import (
	"time"

	"github.com/logagg/logagg/shared/event"
)

// Record is one queue message handed to Consume.
type Record struct {
	MessageID  string        // queue message ID: the ledger key that makes redelivery harmless
	Events     []event.Event // the valid events the message carries
	Body       []byte        // the raw body, kept when the message is dead-lettered
	DeadReason string        // when set, the message is dead-lettered instead of processed
	DeadCount  int           // events a dead-lettered message stands for (at least 1)
}

// Result says what one Consume call changed.
type Result struct {
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

// NamedConflicts bounds Result.Conflicted.
const NamedConflicts = 5

// Conflict is a dropped duplicate whose payload differed from the stored
// event's.
type Conflict struct {
	Topic, EventID string
	MessageID      string // the queue message that carried the duplicate
}

// Filter selects events for Events. Empty and nil fields do not filter.
type Filter struct {
	Topic  string
	Source string
	Since  *time.Time // event timestamp >= Since
	Until  *time.Time // event timestamp < Until
	Limit  int
	After  *Position // keyset cursor: only rows listed after this one
}

// Position is a row's place in the listing, which runs newest processed
// first: by processed_at, then by id among the rows of one transaction.
type Position struct {
	ProcessedAt time.Time
	ID          int64
}

// StoredEvent is a processed event as the query API returns it.
type StoredEvent struct {
	ID int64 `json:"-"`
	event.Event
	ProcessedAt time.Time `json:"processed_at"`
}

// Position is where e stands in the listing.
func (e StoredEvent) Position() Position { return Position{ProcessedAt: e.ProcessedAt, ID: e.ID} }

// TopicOrder is how Topics sorts.
type TopicOrder int

const (
	// ByName lists topics by name, byte by byte; paging through it is
	// stable.
	ByName TopicOrder = iota
	// ByRecent lists the most recently active topics first (the latest new
	// row); topics that only ever had duplicates come last.
	ByRecent
)

// TopicFilter selects topics for Topics.
type TopicFilter struct {
	Order    TopicOrder
	Contains string // only topics whose name contains it, ASCII letters in either case; "" = all
	Limit    int
	After    *TopicStats // keyset cursor: only topics listed after this one
}

// Stats are the aggregate counters, read in one snapshot.
type Stats struct {
	Received         int64
	UniqueProcessed  int64
	DuplicateDropped int64
	PayloadConflicts int64
	DeadLettered     int64
	Topics           int64
}

// TopicStats are one topic's counters.
type TopicStats struct {
	Topic           string    `json:"topic"`
	Unique          int64     `json:"unique"`
	Duplicates      int64     `json:"duplicates"`
	LastProcessedAt time.Time `json:"last_processed_at"`
}

// DeadLetter is a message set aside with the reason why.
type DeadLetter struct {
	ID         int64      `json:"id"`
	MessageID  string     `json:"message_id"`
	Body       string     `json:"body"`
	Reason     string     `json:"reason"`
	Events     int        `json:"events"`
	CreatedAt  time.Time  `json:"created_at"`
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
}
