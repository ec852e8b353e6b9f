package event

import (
	"fmt"
	"slices"
	"time"
)

// Encode returns the canonical queue-message body of one event:
//
//	{"topic":…,"event_id":…,"timestamp":"<RFC 3339, nanoseconds, offset kept>","source":…,"payload":{…}}
//
// with the payload compacted ({} when empty or null) and strings escaped
// only where JSON requires it (no HTML escaping). It refuses, with an
// Invalid *Error, an event that DecodeMessage would refuse, so whatever it
// produces can be consumed; DecodeMessage(Encode(e)) gives back e for every
// event that DecodeRequest or DecodeMessage returns.
func Encode(e Event) ([]byte, error) {
	var details []FieldError
	check := func(field, problem string) {
		if problem != "" {
			details = append(details, FieldError{Field: field, Message: field + " " + problem})
		}
	}
	check(FieldTopic, checkText(e.Topic))
	check(FieldEventID, checkText(e.EventID))
	check(FieldTimestamp, checkTime(e.Timestamp))
	check(FieldSource, checkText(e.Source))
	payload := e.Payload
	if len(payload) > 0 {
		if !validJSON(payload) {
			check(FieldPayload, "is not valid JSON")
		}
		payload = skipSpaceBytes(payload)
	}
	if details != nil {
		return nil, encodeError(details)
	}

	buf, problem := appendPayload(appendHead(nil, &e, len(payload)), payload)
	if problem != "" {
		return nil, encodeError([]FieldError{{Field: FieldPayload, Message: problem}})
	}
	return append(buf, '}'), nil
}

// EncodeDecoded returns Encode(e) for an event that DecodeRequest or
// DecodeMessage returned, without checking it again: they have checked all
// that Encode checks and left the payload compact. Publishing encodes every
// event it has just decoded, and the checks were half of that work. Any
// other event must go through Encode.
func EncodeDecoded(e Event) []byte {
	buf := appendHead(nil, &e, len(e.Payload))
	if len(e.Payload) == 0 {
		buf = append(buf, '{', '}')
	} else {
		buf = append(buf, e.Payload...)
	}
	return append(buf, '}')
}

// appendHead appends the encoding of e up to its payload to dst, growing it
// once for an event whose payload has payloadLen bytes.
func appendHead(dst []byte, e *Event, payloadLen int) []byte {
	dst = slices.Grow(dst, encodedOverhead+len(e.Topic)+len(e.EventID)+len(e.Source)+payloadLen+40)
	dst = append(dst, `{"topic":`...)
	dst = appendQuoted(dst, e.Topic)
	dst = append(dst, `,"event_id":`...)
	dst = appendQuoted(dst, e.EventID)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.Timestamp.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","source":`...)
	dst = appendQuoted(dst, e.Source)
	return append(dst, `,"payload":`...)
}

func encodeError(details []FieldError) *Error {
	return &Error{
		Code:    Invalid,
		Message: "event cannot be encoded: " + details[0].Message,
		Details: details,
	}
}

// checkTime returns what keeps t from being written as an RFC 3339
// timestamp that parses back to t, or "".
func checkTime(t time.Time) string {
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Sprintf("year %d is outside 0000–9999", y)
	}
	_, offset := t.Zone()
	if offset%60 != 0 || offset <= -24*3600 || offset >= 24*3600 {
		return fmt.Sprintf("time-zone offset of %d seconds is not a whole number of minutes between -23:59 and +23:59", offset)
	}
	return ""
}

// encodedOverhead is the length of Encode's output without its values.
var encodedOverhead = len(`{"topic":,"event_id":,"timestamp":"","source":,"payload":}`)

// encodedLen returns len(Encode(*e)) for a valid event whose payload is
// compact, without encoding it.
func encodedLen(e *Event) int {
	var ts [64]byte
	n := encodedOverhead + quotedLen(e.Topic) + quotedLen(e.EventID) + quotedLen(e.Source)
	n += len(e.Timestamp.AppendFormat(ts[:0], time.RFC3339Nano))
	if p := skipSpaceBytes(e.Payload); len(p) == 0 || string(p) == "null" {
		n += 2
	} else {
		n += len(p)
	}
	return n
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string, escaping only what JSON
// requires: the quote, the backslash and control characters below U+0020.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quotedLen returns len(appendQuoted(nil, s)).
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
