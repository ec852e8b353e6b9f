package event

import (
	"slices"
	"time"
)

// EncodeMessage returns the canonical queue-message body of an event that
// DecodeRequest or DecodeMessage returned:
//
//	{"topic":…,"event_id":…,"timestamp":"<RFC 3339, offset kept>","source":…,"payload":{…}}
//
// with strings escaped only where JSON requires it (no HTML escaping), and
// the timestamp's fraction as decoding left it: six digits at most.
// It does not check the event again: the decoders have checked everything
// DecodeMessage needs and left the payload compact ({} when absent or
// null), and the checks were half the work of encoding. It is the inverse
// of DecodeMessage: DecodeMessage of the result gives back e. An event from anywhere else must be checked
// first; the tests' checking encoder shows what that takes.
func EncodeMessage(e Event) []byte {
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

// encodedOverhead is the length of an encoded event without its values.
var encodedOverhead = len(`{"topic":,"event_id":,"timestamp":"","source":,"payload":}`)

// encodedLen returns len(EncodeMessage(*e)) for a valid event whose payload is
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
