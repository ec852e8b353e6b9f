package event

// Limits bound what one publish request may carry.
type Limits struct {
	MaxEvents     int // events in one request (MAX_BATCH)
	MaxEventBytes int // one encoded event (the SQS message limit)
}

// DefaultLimits are SPEC's defaults: 10,000 events, 256 KiB an event.
func DefaultLimits() Limits { return Limits{MaxEvents: 10000, MaxEventBytes: 256 << 10} }

// DecodeRequest decodes a /publish body in any of its four forms and
// validates every event. It is all-or-nothing: it returns every event, or an
// *Error and no events.
func DecodeRequest(contentType string, body []byte, lim Limits) ([]Event, error) {
	panic("not implemented")
}

// DecodeMessage decodes a queue message body, one event object or a JSON
// array of them, validating each.
func DecodeMessage(body []byte) ([]Event, error) {
	panic("not implemented")
}
