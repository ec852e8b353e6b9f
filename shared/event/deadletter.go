package event

import (
	"context"
	"time"
)

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

// ReplaySelection picks the dead letters a replay takes: the ones listed in
// IDs, or, with All, every one that exists when the replay starts. Either
// way only those not replayed yet are taken.
type ReplaySelection struct {
	IDs []int64
	All bool
}

// Republish puts dead letters back on the queue; it returns only once all
// of them are queued, or with an error.
type Republish func(ctx context.Context, letters []DeadLetter) error
