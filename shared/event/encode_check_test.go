package event

import (
	"fmt"
	"time"
)

// The checking encoder: Encode refuses what DecodeMessage would refuse and
// encodes the rest. No production path needs it (publishing encodes events
// the decoders have checked, with EncodeMessage); the tests keep it as the
// reference that EncodeMessage must agree with, and to build messages from
// events made in Go.

// Encode returns the canonical queue-message body of one event, as
// EncodeMessage writes it:
//
//	{"topic":…,"event_id":…,"timestamp":"<RFC 3339, offset kept>","source":…,"payload":{…}}
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

func encodeError(details []FieldError) *Error {
	return &Error{
		Code:    Invalid,
		Message: "event cannot be encoded: " + details[0].Message,
		Details: details,
	}
}

// checkTime returns what keeps t from being written as an RFC 3339
// timestamp that parses back to t (to the microsecond), or "".
func checkTime(t time.Time) string {
	if problem := checkInstant(truncateToMicroseconds(t)); problem != "" {
		return problem
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Sprintf("year %d in its own offset is outside 0000–9999", y)
	}
	_, offset := t.Zone()
	if offset%60 != 0 || offset <= -24*3600 || offset >= 24*3600 {
		return fmt.Sprintf("time-zone offset of %d seconds is not a whole number of minutes between -23:59 and +23:59", offset)
	}
	return ""
}
