package event

import "time"

const (
	// DefaultListLimit is a listing's page size when none is asked for.
	DefaultListLimit = 100
	// MaxListLimit is the largest page size the query API hands out.
	MaxListLimit = 1000
)

// Filter selects stored events for a listing. Empty and nil fields do not
// filter.
type Filter struct {
	Topic  string
	Source string
	Since  *time.Time // event timestamp >= Since
	Until  *time.Time // event timestamp < Until
	Order  Order
	Limit  int       // page size; 0 or less means DefaultListLimit
	After  *Position // keyset cursor: only rows listed after this one
}

// Order is how an event listing sorts, newest first either way.
type Order int

const (
	// ByProcessed lists the newest processed first: by processed_at, then
	// by id among the rows of one transaction.
	ByProcessed Order = iota
	// ByTimestamp lists by the events' own timestamp, newest first, then
	// by id among equal timestamps.
	ByTimestamp
)

// String is the order's name in the query API.
func (o Order) String() string {
	if o == ByTimestamp {
		return "timestamp"
	}
	return "processed"
}

// Position is a row's place in a listing: its time in the listing's order
// (processed_at, or timestamp) and its id.
type Position struct {
	At time.Time
	ID int64
}

// StoredEvent is a processed event as the query API returns it.
type StoredEvent struct {
	ID int64 `json:"-"`
	Event
	ProcessedAt time.Time `json:"processed_at"`
}

// Position is where e stands in a listing in order o.
func (e StoredEvent) Position(o Order) Position {
	if o == ByTimestamp {
		return Position{At: e.Timestamp, ID: e.ID}
	}
	return Position{At: e.ProcessedAt, ID: e.ID}
}

// TopicOrder is how a topic listing sorts.
type TopicOrder int

const (
	// ByName lists topics by name, byte by byte; paging through it is
	// stable.
	ByName TopicOrder = iota
	// ByRecent lists the most recently active topics first (the latest new
	// row); topics that only ever had duplicates come last.
	ByRecent
)

// TopicFilter selects topics for a topic listing.
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
