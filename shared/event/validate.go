package event

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
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

const (
	// MaxTextLength is the most characters (runes) topic, event_id and
	// source may have.
	MaxTextLength = 255
	// MaxPayloadDepth is how deeply objects and arrays may nest in a
	// payload, the payload object itself being level 1.
	MaxPayloadDepth = 64
)

// PostgreSQL's numeric type, which jsonb stores numbers in, refuses numbers
// outside these bounds (see numericFits).
const (
	pgMaxExponent     = 1<<30 - 1 // INT_MAX/2: the exponent itself
	pgMaxDigitsBefore = 131072    // digits before the decimal point
	pgMaxDigitsAfter  = 16383     // digits after it (NUMERIC_DSCALE_MAX)
)

const timestampForm = "an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00"

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

// payloadChunk is the size of the blocks that a batch's payloads are copied
// into, so that a batch allocates a few blocks instead of one per payload.
const payloadChunk = 64 << 10

// maxInterned bounds how many distinct topics and sources one batch
// remembers to share their strings between events.
const maxInterned = 256

// batchDecoder validates the events of one batch, collecting either the
// events or every problem found.
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

// quoteShort quotes s for a message, shortened when long.
func quoteShort(s string) string {
	const maxShown = 40
	if utf8.RuneCountInString(s) > maxShown {
		s = string([]rune(s)[:maxShown]) + "…"
	}
	return strconv.Quote(s)
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

// pathFrame is one open object or array on the way to a payload value.
type pathFrame struct {
	array bool
	index int    // current element of an array
	key   []byte // current key of an object, raw
}

// appendPayload checks the payload raw, which must be valid JSON or nil,
// and appends it to dst with insignificant whitespace removed (as
// json.Compact would). Absent or null is {}. When the payload is not an
// object, nests more than MaxPayloadDepth levels, or holds something
// PostgreSQL's jsonb refuses (the NUL character, a lone UTF-16 surrogate
// escape, invalid UTF-8, a number outside numeric's range), it returns a
// message that says what and where instead.
func appendPayload(dst, raw []byte) ([]byte, string) {
	if raw == nil || raw[0] == 'n' {
		return append(dst, '{', '}'), ""
	}
	if raw[0] != '{' {
		return dst, "payload must be a JSON object, got " + kindOf(raw)
	}
	var stack [MaxPayloadDepth]pathFrame
	depth := 0
	expectKey := false
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			if expectKey {
				stack[depth-1].key = raw[i:skipString(raw, i)]
			}
			end, problem := checkString(raw, i)
			if problem != "" {
				return dst, payloadPath(stack[:depth]) + " " + problem
			}
			expectKey = false
			dst = append(dst, raw[i:end]...)
			i = end
		case '{', '[':
			if depth == MaxPayloadDepth {
				return dst, fmt.Sprintf("payload is nested more than %d levels deep (objects and arrays, the payload itself being level 1) at %s",
					MaxPayloadDepth, payloadPath(stack[:depth]))
			}
			stack[depth] = pathFrame{array: c == '['}
			depth++
			expectKey = c == '{'
			dst = append(dst, c)
			i++
		case '}', ']':
			depth--
			expectKey = false
			dst = append(dst, c)
			i++
		case ',':
			if f := &stack[depth-1]; f.array {
				f.index++
			} else {
				expectKey = true
			}
			dst = append(dst, c)
			i++
		case ':':
			dst = append(dst, c)
			i++
		case 't', 'f', 'n':
			end := skipValue(raw, i)
			dst = append(dst, raw[i:end]...)
			i = end
		default:
			end := skipValue(raw, i)
			if !numericFits(raw[i:end]) {
				return dst, fmt.Sprintf("%s holds the number %s, which is outside the range PostgreSQL can store (at most %d digits before the decimal point and %d after)",
					payloadPath(stack[:depth]), quoteShort(string(raw[i:end])), pgMaxDigitsBefore, pgMaxDigitsAfter)
			}
			dst = append(dst, raw[i:end]...)
			i = end
		}
	}
	return dst, ""
}

// payloadPath spells the location of the current value or key, like
// payload.user.tags[2] or payload["odd key"].
func payloadPath(stack []pathFrame) string {
	var b []byte
	b = append(b, "payload"...)
	for _, f := range stack {
		if f.array {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(f.index), 10)
			b = append(b, ']')
			continue
		}
		if f.key == nil {
			continue
		}
		name := f.key[1 : len(f.key)-1]
		if isPlainKey(name) {
			b = append(b, '.')
			b = append(b, name...)
		} else {
			b = append(b, '[')
			b = append(b, f.key...)
			b = append(b, ']')
		}
	}
	return string(b)
}

func isPlainKey(name []byte) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// checkString returns the index just past the string that opens at i and
// what, if anything, in it PostgreSQL would refuse.
func checkString(data []byte, i int) (int, string) {
	for i++; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			return i + 1, ""
		case c == '\\':
			if data[i+1] != 'u' {
				i += 2
				continue
			}
			r := hex4(data[i+2 : i+6])
			switch {
			case r == 0:
				return i, `contains the NUL character (\u0000), which PostgreSQL cannot store`
			case utf16IsHigh(r):
				if i+12 <= len(data) && data[i+6] == '\\' && data[i+7] == 'u' && utf16IsLow(hex4(data[i+8:i+12])) {
					i += 12
					continue
				}
				return i, loneSurrogate(data[i : i+6])
			case utf16IsLow(r):
				return i, loneSurrogate(data[i : i+6])
			}
			i += 6
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				return i, "contains invalid UTF-8"
			}
			i += size
		}
	}
	return len(data), ""
}

func loneSurrogate(escape []byte) string {
	return fmt.Sprintf("contains %s, a UTF-16 surrogate escape without its pair, which PostgreSQL's jsonb refuses; "+
		"send the character as UTF-8 or as a full surrogate pair", escape)
}

func utf16IsHigh(r rune) bool { return 0xd800 <= r && r < 0xdc00 }
func utf16IsLow(r rune) bool  { return 0xdc00 <= r && r < 0xe000 }

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescapeString appends the text of the JSON string content s (the bytes
// between the quotes, valid JSON) to dst. It returns a problem when s
// holds a lone surrogate escape, which has no UTF-8 form.
func unescapeString(dst, s []byte) ([]byte, string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2 : i+6])
			i += 6
			switch {
			case utf16IsHigh(r):
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if lo := hex4(s[i+2 : i+6]); utf16IsLow(lo) {
						dst = utf8.AppendRune(dst, (r-0xd800)<<10|(lo-0xdc00)+0x10000)
						i += 6
						continue
					}
				}
				return dst, loneSurrogate(s[i-6 : i])
			case utf16IsLow(r):
				return dst, loneSurrogate(s[i-6 : i])
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // \" \\ \/
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst, ""
}

// numericFits reports whether PostgreSQL's numeric type accepts the JSON
// number num: its exponent within ±(2^30-1), at most pgMaxDigitsAfter digits
// after the decimal point counting trailing zeros, and, unless it is zero,
// at most pgMaxDigitsBefore digits before it.
func numericFits(num []byte) bool {
	i := 0
	if i < len(num) && num[i] == '-' {
		i++
	}
	intStart := i
	for i < len(num) && '0' <= num[i] && num[i] <= '9' {
		i++
	}
	intDigits := num[intStart:i]
	var fracDigits []byte
	if i < len(num) && num[i] == '.' {
		i++
		fracStart := i
		for i < len(num) && '0' <= num[i] && num[i] <= '9' {
			i++
		}
		fracDigits = num[fracStart:i]
	}
	var exp int64
	if i < len(num) && (num[i] == 'e' || num[i] == 'E') {
		i++
		negative := false
		if num[i] == '-' || num[i] == '+' {
			negative = num[i] == '-'
			i++
		}
		for ; i < len(num); i++ {
			if exp < 1<<40 { // saturate: anything this large is out of range
				exp = exp*10 + int64(num[i]-'0')
			}
		}
		if negative {
			exp = -exp
		}
	}
	if exp >= pgMaxExponent || exp <= -pgMaxExponent {
		return false
	}
	if int64(len(fracDigits))-exp > pgMaxDigitsAfter {
		return false
	}
	// The decimal weight of the first significant digit: 0 for units.
	weight, significant := int64(len(intDigits)-1), false
	for _, c := range intDigits {
		if c != '0' {
			significant = true
			break
		}
		weight--
	}
	if !significant {
		weight = -1
		for _, c := range fracDigits {
			if c != '0' {
				significant = true
				break
			}
			weight--
		}
	}
	return !significant || weight+exp < pgMaxDigitsBefore
}
