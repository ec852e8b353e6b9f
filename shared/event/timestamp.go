package event

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

const timestampForm = "an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00"

// The earliest and latest instants a timestamp may have. Every part must be
// able to store the instant and give it back: PostgreSQL's timestamptz
// (4713 BC to 294276 AD, microseconds), a browser's Date (±273,790 years)
// and Go's encoding/json, which refuses to write a year outside 0000–9999
// and is the narrowest of them.
var (
	earliestTimestamp = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	latestTimestamp   = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// timestampRange names the range for messages.
const timestampRange = "0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"

// ParseTimestamp parses s by the rule for an event's timestamp, which the
// query API's since and until follow too: RFC 3339 with a time-zone offset
// (Z or ±hh:mm, -23:59 to +23:59), T and Z in either case (RFC 3339 §5.6),
// digits after the sixth fractional one dropped (truncated, not rounded,
// since PostgreSQL keeps microseconds), and a UTC instant from
// 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z. The time keeps s's
// offset, without a zone name.
//
// The error says what is wrong and is worded to follow the value's name, as
// in "since " + err.Error(); the caller chooses its code.
func ParseTimestamp(s string) (time.Time, error) {
	t, problem := parseTimestamp(s)
	if problem != "" {
		return time.Time{}, errors.New(problem)
	}
	return t, nil
}

// parseTimestamp is ParseTimestamp returning what is wrong as text.
func parseTimestamp(s string) (time.Time, string) {
	t, err := time.Parse(time.RFC3339, upperTZ(s))
	if err != nil {
		shown := quoteShort(s)
		if _, err := time.Parse("2006-01-02T15:04:05", upperTZ(s)); err == nil {
			return time.Time{}, fmt.Sprintf("%s has no time-zone offset: add Z for UTC or an offset such as +07:00", shown)
		}
		return time.Time{}, fmt.Sprintf("must be %s; got %s", timestampForm, shown)
	}
	_, offset := t.Zone()
	if offset <= -24*3600 || offset >= 24*3600 {
		return time.Time{}, fmt.Sprintf("has a time-zone offset outside -23:59 to +23:59; got %s", quoteShort(s))
	}
	t = truncateToMicroseconds(t)
	if problem := checkInstant(t); problem != "" {
		return time.Time{}, quoteShort(s) + " " + problem
	}
	return withFixedZone(t), ""
}

// upperTZ returns s with the date-time separator t and the UTC designator z
// in upper case, as time.Parse wants them.
func upperTZ(s string) string {
	lowerT := len(s) > 10 && s[10] == 't'
	lowerZ := len(s) > 10 && s[len(s)-1] == 'z'
	if !lowerT && !lowerZ {
		return s
	}
	b := []byte(s)
	if lowerT {
		b[10] = 'T'
	}
	if lowerZ {
		b[len(b)-1] = 'Z'
	}
	return string(b)
}

// truncateToMicroseconds drops t's nanoseconds below the microsecond.
// t.Nanosecond() counts up from the start of the second whatever the year,
// so this cuts towards the past for years before 1 too.
func truncateToMicroseconds(t time.Time) time.Time {
	return t.Add(-time.Duration(t.Nanosecond() % 1000))
}

// checkInstant returns what is wrong with t's UTC instant, or "".
func checkInstant(t time.Time) string {
	if t.Before(earliestTimestamp) || t.After(latestTimestamp) {
		return fmt.Sprintf("is %s in UTC, outside the range that every part can store and give back: %s",
			t.UTC().Format(time.RFC3339Nano), timestampRange)
	}
	return ""
}

// zones holds one *time.Location per offset, so that equal timestamps
// decoded separately are equal field by field, not only by Time.Equal.
var zones sync.Map // offset seconds → *time.Location

// withFixedZone keeps t's offset but not a zone name that time.Parse may
// have borrowed from the local zone, so that decoding does not depend on
// the machine's time zone.
func withFixedZone(t time.Time) time.Time {
	_, offset := t.Zone()
	if offset == 0 {
		return t.UTC()
	}
	loc, ok := zones.Load(offset)
	if !ok {
		loc, _ = zones.LoadOrStore(offset, time.FixedZone("", offset))
	}
	return t.In(loc.(*time.Location))
}
