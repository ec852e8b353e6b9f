package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEncode(t *testing.T) {
	t.Parallel()

	plus7 := time.FixedZone("WIB", 7*3600)
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{
			"canonical",
			Event{Topic: "user.login", EventID: "evt-42", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "auth-service", Payload: json.RawMessage(`{"user":"ana"}`)},
			`{"topic":"user.login","event_id":"evt-42","timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"}}`,
		},
		{
			"offset and nanoseconds kept",
			Event{Topic: "t", EventID: "e", Timestamp: time.Date(2026, 11, 25, 17, 0, 0, 120000000, plus7), Source: "s", Payload: json.RawMessage(`{}`)},
			`{"topic":"t","event_id":"e","timestamp":"2026-11-25T17:00:00.12+07:00","source":"s","payload":{}}`,
		},
		{
			"nil payload",
			Event{Topic: "t", EventID: "e", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "s"},
			`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{}}`,
		},
		{
			"null payload",
			Event{Topic: "t", EventID: "e", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "s", Payload: json.RawMessage(` null `)},
			`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{}}`,
		},
		{
			"payload compacted",
			Event{Topic: "t", EventID: "e", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "s", Payload: json.RawMessage(" { \"a\" : [ 1, 2 ] }\n")},
			`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"a":[1,2]}}`,
		},
		{
			"only what JSON requires is escaped",
			Event{Topic: `a"b\c`, EventID: "<&>/é😀\u2028", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "s", Payload: json.RawMessage(`{"h":"<&>"}`)},
			`{"topic":"a\"b\\c","event_id":"<&>/é😀` + "\u2028" + `","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"h":"<&>"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Encode(tt.event)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()

	valid := Event{Topic: "t", EventID: "e", Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Source: "s", Payload: json.RawMessage(`{}`)}
	tests := []struct {
		name    string
		change  func(e *Event)
		field   string
		message string
	}{
		{"empty topic", func(e *Event) { e.Topic = "" }, FieldTopic, "topic must not be empty"},
		{"long event_id", func(e *Event) { e.EventID = strings.Repeat("x", 256) }, FieldEventID, "event_id is 256 characters long"},
		{"control in source", func(e *Event) { e.Source = "a\nb" }, FieldSource, "source must not contain control characters"},
		{"NUL in topic", func(e *Event) { e.Topic = "a\x00" }, FieldTopic, "NUL"},
		{"invalid UTF-8 in event_id", func(e *Event) { e.EventID = "\xff" }, FieldEventID, "not valid UTF-8"},
		{"year 10000", func(e *Event) { e.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, FieldTimestamp,
			"is 10000-01-01T00:00:00Z in UTC, outside the range that every part can store and give back"},
		{"negative year", func(e *Event) { e.Timestamp = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, FieldTimestamp, "is -0001-01-01T00:00:00Z in UTC, outside"},
		{"year 10000 in its own offset", func(e *Event) {
			e.Timestamp = time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC).In(time.FixedZone("", 3600))
		}, FieldTimestamp, "year 10000 in its own offset is outside 0000–9999"},
		{"offset in seconds", func(e *Event) { e.Timestamp = e.Timestamp.In(time.FixedZone("LMT", 1050)) }, FieldTimestamp, "not a whole number of minutes"},
		{"offset of a day", func(e *Event) { e.Timestamp = e.Timestamp.In(time.FixedZone("", 24*3600)) }, FieldTimestamp, "between -23:59 and +23:59"},
		{"payload not JSON", func(e *Event) { e.Payload = json.RawMessage(`{"a":`) }, FieldPayload, "payload is not valid JSON"},
		{"payload array", func(e *Event) { e.Payload = json.RawMessage(`[]`) }, FieldPayload, "payload must be a JSON object, got an array"},
		{"payload NUL", func(e *Event) { e.Payload = json.RawMessage(`{"a":"\u0000"}`) }, FieldPayload, "payload.a contains the NUL character"},
		{"payload too deep", func(e *Event) { e.Payload = json.RawMessage(nested(65, false)) }, FieldPayload, "nested more than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := valid
			tt.change(&e)
			got, err := Encode(e)
			require.Nil(t, got)
			ee := requireCode(t, err, Invalid)
			require.Len(t, ee.Details, 1)
			require.Equal(t, tt.field, ee.Details[0].Field)
			require.Contains(t, ee.Details[0].Message, tt.message)
			require.Contains(t, ee.Message, tt.message)
		})
	}

	_, err := Encode(Event{})
	e := requireCode(t, err, Invalid)
	require.Len(t, e.Details, 3, "topic, event_id and source; the zero time and a nil payload are fine")
}

// TestEncodeRoundTrip is the property DecodeMessage(Encode(e)) == e over a
// table of events as decoding produces them, and EncodeMessage agreeing
// with Encode on each.
func TestEncodeRoundTrip(t *testing.T) {
	t.Parallel()

	bodies := []string{
		eventJSON("evt-1"),
		withField(FieldPayload, ""),
		withField(FieldTimestamp, `"2026-11-25T17:00:00.123456789+07:00"`),
		withField(FieldTimestamp, `"2026-11-25T17:00:00.1234567891234-09:30"`),
		withField(FieldTimestamp, `"2026-11-25T10:00:00,5Z"`),
		withField(FieldTimestamp, `"2026-11-25T10:00:00+00:00"`),
		withField(FieldTimestamp, `"0001-01-01T00:00:00Z"`),
		withField(FieldTimestamp, `"9999-12-31T23:59:59.999999999+23:59"`),
		withField(FieldTimestamp, `"9999-12-31T23:59:59.9999999z"`),
		withField(FieldTimestamp, `"0000-01-01t00:00:00-23:59"`),
		withField(FieldTopic, `"`+strings.Repeat("😀", 255)+`"`),
		withField(FieldEventID, `"quote \" backslash \\ slash \/ é \u00e9 \ud83d\ude00 <&> \u2028"`),
		withField(FieldSource, `" leading and trailing spaces "`),
		withField(FieldPayload, nested(64, false)),
		withField(FieldPayload, nested(64, true)),
		withField(FieldPayload, `{"s":"\"\\\/\b\f\n\r\t\u0001\u00e9\ud83d\ude00","\\u0000":"\\u0000","n":[0,-1.5e-7,1e131071,1E+2],"b":[true,false,null],"o":{}}`),
		withField(FieldPayload, "{ \"spaced\" :\t[ 1 ,\n 2 ] }"),
	}
	for _, body := range bodies {
		name := body
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			events, err := DecodeRequest("", []byte(body), DefaultLimits())
			require.NoError(t, err)
			e := events[0]

			enc, err := Encode(e)
			require.NoError(t, err)
			require.Len(t, enc, encodedLen(&e))
			require.Equal(t, string(enc), string(EncodeMessage(e)))

			back, err := DecodeMessage(enc)
			require.NoError(t, err)
			require.Equal(t, []Event{e}, back)
			require.Equal(t, e.Timestamp.String(), back[0].Timestamp.String())
			require.Equal(t, string(enc), string(EncodeMessage(back[0])))

			again, err := Encode(back[0])
			require.NoError(t, err)
			require.Equal(t, string(enc), string(again), "encoding is stable")
		})
	}

	// A message of several encoded events, as a JSON array.
	var events []Event
	var parts []string
	for _, body := range bodies {
		decoded, err := DecodeRequest("", []byte(body), DefaultLimits())
		require.NoError(t, err)
		enc, err := Encode(decoded[0])
		require.NoError(t, err)
		events = append(events, decoded[0])
		parts = append(parts, string(enc))
	}
	back, err := DecodeMessage([]byte("[" + strings.Join(parts, ",") + "]"))
	require.NoError(t, err)
	require.Equal(t, events, back)
}

func TestEncodeTimeFromElsewhere(t *testing.T) {
	t.Parallel()

	// A time with a named zone and a monotonic reading, as code builds
	// them, comes back as the same instant, to the microsecond, with the
	// same offset.
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		loc = time.FixedZone("WIB", 7*3600)
	}
	ts := time.Now().In(loc)
	enc, err := Encode(Event{Topic: "t", EventID: "e", Timestamp: ts, Source: "s"})
	require.NoError(t, err)
	back, err := DecodeMessage(enc)
	require.NoError(t, err)
	require.True(t, ts.Truncate(time.Microsecond).Equal(back[0].Timestamp), "%s, back %s", ts, back[0].Timestamp)
	_, want := ts.Zone()
	_, got := back[0].Timestamp.Zone()
	require.Equal(t, want, got)
}

func TestQuotedLen(t *testing.T) {
	t.Parallel()

	for _, s := range []string{"", "abc", `"\`, "\n\r\t\b\f\x00\x1f", "é😀", "\x7f"} {
		got := appendQuoted(nil, s)
		require.Len(t, got, quotedLen(s), "%q", s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		require.Equal(t, s, back)
	}
}
