package event

import (
	"bytes"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Field names as they appear in events and in FieldError.Field.
const (
	FieldTopic     = "topic"
	FieldEventID   = "event_id"
	FieldTimestamp = "timestamp"
	FieldSource    = "source"
	FieldPayload   = "payload"
)

// payloadChunk is the size of the blocks that a batch's payloads are copied
// into, so that a batch allocates a few blocks instead of one per payload.
const payloadChunk = 64 << 10

// maxInterned bounds how many distinct topics and sources one batch
// remembers to share their strings between events.
const maxInterned = 256

// batchDecoder validates the events of one batch, collecting either the
// events or every problem found. The rules of the fields are checkText
// (topic, event_id, source) below, parseTimestamp (timestamp.go) and the
// payload checker, appendPayload (payload.go).
type batchDecoder struct {
	events  []Event
	details []FieldError
	invalid int // events with at least one problem
	arena   []byte
	chunk   int // size of the next block of arena
	intern  map[string]string
	scratch []byte
}

// newBatchDecoder returns a decoder for n events whose raw text totals
// size bytes, which bounds the total size of their compacted payloads.
func newBatchDecoder(n, size int) *batchDecoder {
	return &batchDecoder{
		events: make([]Event, 0, n),
		chunk:  min(payloadChunk, size+2*n),
		intern: make(map[string]string),
	}
}

func (d *batchDecoder) fail(index int, field, format string, args ...any) {
	d.details = append(d.details, FieldError{Index: index, Field: field, Message: fmt.Sprintf(format, args...)})
}

// add validates the raw element at index and keeps it as an event, or
// records its problems.
func (d *batchDecoder) add(index int, raw []byte) {
	if raw[0] != '{' {
		d.fail(index, "", "each event must be a JSON object, got %s", kindOf(raw))
		d.invalid++
		return
	}
	r := parseRawEvent(raw)
	if r.looksLikeBatch() {
		d.fail(index, "", `each event must be an object with topic, event_id, timestamp and source; this one is a {"events":[...]} batch, `+
			`which is only read as a whole JSON body (Content-Type: application/json), not as an element or an NDJSON line`)
		d.invalid++
		return
	}
	before := len(d.details)

	var e Event
	e.Topic = d.text(index, FieldTopic, r.topic, true)
	e.EventID = d.text(index, FieldEventID, r.eventID, false)
	e.Timestamp = d.timestamp(index, r.timestamp)
	e.Source = d.text(index, FieldSource, r.source, true)
	e.Payload = d.payload(index, r.payload)

	if len(d.details) > before {
		d.invalid++
		return
	}
	d.events = append(d.events, e)
}

// rawEvent holds the raw JSON text of each known member of an event object,
// nil for an absent member.
type rawEvent struct {
	topic, eventID, timestamp, source, payload []byte
	events                                     bool // has an "events" member
}

// looksLikeBatch reports whether the object is a {"events":[...]} batch
// rather than an event: it has an "events" member and no event field.
func (r rawEvent) looksLikeBatch() bool {
	return r.events && r.topic == nil && r.eventID == nil && r.timestamp == nil && r.source == nil && r.payload == nil
}

// parseRawEvent collects the known members of the object obj.
func parseRawEvent(obj []byte) rawEvent {
	var r rawEvent
	it := memberIter{data: obj, pos: 1}
	var scratch []byte
	for {
		key, val, ok := it.next()
		if !ok {
			return r
		}
		if bytes.IndexByte(key, '\\') >= 0 {
			scratch, _ = unescapeString(scratch[:0], key)
			key = scratch
		}
		switch string(key) {
		case FieldTopic:
			r.topic = val
		case FieldEventID:
			r.eventID = val
		case FieldTimestamp:
			r.timestamp = val
		case FieldSource:
			r.source = val
		case FieldPayload:
			r.payload = val
		case "events":
			r.events = true
		}
	}
}

// text decodes and checks a topic, event_id or source value. Shared
// remembers the string so that later events with the same value share it.
func (d *batchDecoder) text(index int, field string, raw []byte, shared bool) string {
	if raw == nil {
		d.fail(index, field, "%s is required", field)
		return ""
	}
	if raw[0] != '"' {
		d.fail(index, field, "%s must be a string, got %s", field, kindOf(raw))
		return ""
	}
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') >= 0 {
		var problem string
		d.scratch, problem = unescapeString(d.scratch[:0], content)
		if problem != "" {
			d.fail(index, field, "%s %s", field, problem)
			return ""
		}
		content = d.scratch
	}
	if shared {
		if s, ok := d.intern[string(content)]; ok {
			return s
		}
	}
	s := string(content)
	if problem := checkText(s); problem != "" {
		d.fail(index, field, "%s %s", field, problem)
		return ""
	}
	if shared && len(d.intern) < maxInterned {
		d.intern[s] = s
	}
	return s
}

// MaxTextLength is the most characters (runes) topic, event_id and source
// may have.
const MaxTextLength = 255

// checkText returns what is wrong with a topic, event_id or source, or "".
// ASCII takes the fast path; only other characters are looked up in tables.
func checkText(s string) string {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n++
			i++
			switch {
			case c == 0:
				return `must not contain the NUL character (\u0000), which PostgreSQL cannot store`
			case c < 0x20 || c == 0x7f:
				return fmt.Sprintf("must not contain control characters; found U+%04X at character %d", c, n)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n++
		if r == utf8.RuneError && size == 1 {
			return fmt.Sprintf("is not valid UTF-8 (at character %d)", n)
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("must not contain control characters; found U+%04X at character %d", r, n)
		}
		if unicode.Is(invisible, r) {
			return fmt.Sprintf("must not contain invisible or bidirectional formatting characters, which let one name pass for another; "+
				"found %s at character %d", describeInvisible(r), n)
		}
		i += size
	}
	switch {
	case n == 0:
		return "must not be empty"
	case n > MaxTextLength:
		return fmt.Sprintf("is %d characters long; the limit is %d", n, MaxTextLength)
	}
	return ""
}

// timestamp decodes and checks a timestamp value.
func (d *batchDecoder) timestamp(index int, raw []byte) time.Time {
	if raw == nil {
		d.fail(index, FieldTimestamp, "timestamp is required: send %s", timestampForm)
		return time.Time{}
	}
	if raw[0] != '"' {
		d.fail(index, FieldTimestamp, "timestamp must be a string, %s; got %s", timestampForm, kindOf(raw))
		return time.Time{}
	}
	content := raw[1 : len(raw)-1]
	if bytes.IndexByte(content, '\\') >= 0 {
		d.scratch, _ = unescapeString(d.scratch[:0], content)
		content = d.scratch
	}
	t, err := ParseTimestamp(string(content))
	if err != nil {
		d.fail(index, FieldTimestamp, "timestamp %s", err)
	}
	return t
}

// payload checks a payload value and returns a compacted copy of it.
func (d *batchDecoder) payload(index int, raw []byte) []byte {
	if cap(d.arena)-len(d.arena) < len(raw)+2 {
		d.arena = make([]byte, 0, max(d.chunk, len(raw)+2))
	}
	start := len(d.arena)
	var problem string
	d.arena, problem = appendPayload(d.arena, raw)
	if problem != "" {
		d.arena = d.arena[:start]
		d.fail(index, FieldPayload, "%s", problem)
		return nil
	}
	return d.arena[start:len(d.arena):len(d.arena)]
}
