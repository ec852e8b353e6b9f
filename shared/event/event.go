// Package event holds logagg's domain model: the Event, the decoding of the
// request and queue-message forms it arrives in, its validation, and the
// error codes that every other package returns and the HTTP edge maps to a
// status. It depends on the standard library and a JSON validator only.
package event

import (
	"encoding/json"
	"time"
)

// Event is one log event. Its identity is (Topic, EventID).
type Event struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp time.Time       `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
}

// Key identifies an event: the same EventID in two topics is two events.
type Key struct {
	Topic   string
	EventID string
}

// Key returns the event's identity.
func (e Event) Key() Key { return Key{Topic: e.Topic, EventID: e.EventID} }
