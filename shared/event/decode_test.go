package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mustEvent builds the Event that decoding the given field values yields.
func mustEvent(t testing.TB, topic, id, timestamp, source, payload string) Event {
	t.Helper()
	ts, problem := parseTimestamp(timestamp)
	require.Empty(t, problem)
	return Event{Topic: topic, EventID: id, Timestamp: ts, Source: source, Payload: json.RawMessage(payload)}
}

// eventJSON is one valid event object with the given id.
func eventJSON(id string) string {
	return fmt.Sprintf(`{"topic":"user.login","event_id":%q,"timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"}}`, id)
}

// withField returns a valid event object with one member replaced by the
// raw JSON value, or removed when value is "".
func withField(field, value string) string {
	m := map[string]string{
		"topic":     `"user.login"`,
		"event_id":  `"evt-1"`,
		"timestamp": `"2026-11-25T10:00:00Z"`,
		"source":    `"auth-service"`,
		"payload":   `{"user":"ana"}`,
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for _, k := range []string{"topic", "event_id", "timestamp", "source", "payload"} {
		v := m[k]
		if k == field {
			v = value
		}
		if v == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", k, v)
	}
	b.WriteByte('}')
	return b.String()
}

func requireCode(t *testing.T, err error, code Code) *Error {
	t.Helper()
	require.Error(t, err)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, code, e.Code, "message: %s", e.Message)
	return e
}

// requireRefused checks that decoding returned no events and an *Error with
// code and message.
func requireRefused(t *testing.T, got []Event, err error, code Code, message string) *Error {
	t.Helper()
	e := requireCode(t, err, code)
	require.Nil(t, got)
	require.Equal(t, message, e.Message)
	return e
}

func TestDecodeRequestForms(t *testing.T) {
	t.Parallel()

	ev1 := `{"topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"}}`
	ev2 := `{"topic":"user.logout","event_id":"evt-2","timestamp":"2026-11-25T17:00:00.123456789+07:00","source":"auth-service"}`
	ev3 := ` { "topic" : "billing" , "event_id" : "evt-3" , "timestamp" : "2026-11-25T10:00:00-05:30" , "source" : "pay" , "payload" : { "a" : [ 1 , 2 ] , "b" : { } } , "extra" : [1] } `
	want := []Event{
		mustEvent(t, "user.login", "evt-1", "2026-11-25T10:00:00Z", "auth-service", `{"user":"ana"}`),
		mustEvent(t, "user.logout", "evt-2", "2026-11-25T17:00:00.123456789+07:00", "auth-service", `{}`),
		mustEvent(t, "billing", "evt-3", "2026-11-25T10:00:00-05:30", "pay", `{"a":[1,2],"b":{}}`),
	}

	tests := []struct {
		name        string
		contentType string
		body        string
		want        []Event
	}{
		{"wrapper", "application/json", `{"events":[` + ev1 + `,` + ev2 + `,` + ev3 + `]}`, want},
		{"wrapper with other members", "application/json", `{"batch":"x","events":[` + ev1 + `,` + ev2 + `,` + ev3 + `],"n":3}`, want},
		{"wrapper pretty", "application/json", "{\n  \"events\": [\n    " + ev1 + ",\n    " + ev2 + ",\n    " + ev3 + "\n  ]\n}\n", want},
		{"wrapper with an escaped key", "application/json", `{"\u0065vents":[` + ev1 + `,` + ev2 + `,` + ev3 + `]}`, want},
		{"bare array", "application/json", `[` + ev1 + `,` + ev2 + `,` + ev3 + `]`, want},
		{"one event", "application/json", ev1, want[:1]},
		{"one event, payload absent", "application/json", ev2, want[1:2]},
		{"one event, unknown fields", "application/json", ev3, want[2:]},
		{"ndjson", "application/x-ndjson", ev1 + "\n" + ev2 + "\n" + ev3 + "\n", want},
		{"ndjson without final newline", "application/x-ndjson", ev1 + "\n" + ev2 + "\n" + ev3, want},
		{"ndjson CRLF and blank lines", "application/x-ndjson", "\r\n" + ev1 + "\r\n\r\n   \r\n" + ev2 + "\r\n" + ev3 + "\r\n\r\n", want},
		{"ndjson alias", "application/ndjson", ev1 + "\n" + ev2 + "\n" + ev3, want},
		{"jsonl alias", "application/jsonl", ev1 + "\n" + ev2 + "\n" + ev3, want},
		{"jsonlines alias", "Application/X-JsonLines; charset=UTF-8", ev1 + "\n" + ev2 + "\n" + ev3, want},
		{"no content type is JSON", "", `[` + ev1 + `,` + ev2 + `,` + ev3 + `]`, want},
		{"+json suffix", "application/vnd.logagg.events+json", `{"events":[` + ev1 + `,` + ev2 + `,` + ev3 + `]}`, want},
		{"case and charset", "Application/JSON; Charset=utf-8", `[` + ev1 + `,` + ev2 + `,` + ev3 + `]`, want},
		{"byte order mark", "application/json", "\xef\xbb\xbf[" + ev1 + `,` + ev2 + `,` + ev3 + `]`, want},
		{"null payload", "application/json", `{"topic":"user.logout","event_id":"evt-2","timestamp":"2026-11-25T17:00:00.123456789+07:00","source":"auth-service","payload":null}`, want[1:2]},
		{
			"escaped keys and values", "application/json",
			`{"\u0074opic":"user.l\u006fgin","event_id":"evt\u002d1","timestamp":"2026-11-25T10:00:00\u005a","source":"auth\/service","payload":{"user":"ana"}}`,
			[]Event{mustEvent(t, "user.login", "evt-1", "2026-11-25T10:00:00Z", "auth/service", `{"user":"ana"}`)},
		},
		{
			"duplicate key, last wins", "application/json",
			`{"topic":"first","topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"}}`,
			want[:1],
		},
		{
			"keys match exactly", "application/json",
			`{"Topic":"other","topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"auth-service","payload":{"user":"ana"},"Payload":5}`,
			want[:1],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest(tt.contentType, []byte(tt.body), DefaultLimits())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeRequestKeepsOffset(t *testing.T) {
	t.Parallel()

	body := `[` + withField("timestamp", `"2026-11-25T17:00:00+07:00"`) + `,` + withField("timestamp", `"2026-11-25T10:00:00Z"`) + `]`
	got, err := DecodeRequest("application/json", []byte(body), DefaultLimits())
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.True(t, got[0].Timestamp.Equal(got[1].Timestamp))
	_, offset := got[0].Timestamp.Zone()
	require.Equal(t, 7*3600, offset)
	require.Equal(t, "2026-11-25T17:00:00+07:00", got[0].Timestamp.Format(time.RFC3339))
	require.Equal(t, time.UTC, got[1].Timestamp.Location())
}

func TestDecodeRequestDoesNotAliasBody(t *testing.T) {
	t.Parallel()

	body := []byte(`[` + eventJSON("a") + `,` + eventJSON("b") + `]`)
	got, err := DecodeRequest("application/json", body, DefaultLimits())
	require.NoError(t, err)
	for i := range body {
		body[i] = 'X'
	}
	require.Equal(t, "a", got[0].EventID)
	require.Equal(t, `{"user":"ana"}`, string(got[0].Payload))
	require.Equal(t, `{"user":"ana"}`, string(got[1].Payload))

	// Payloads share blocks but not capacity: appending to one leaves the
	// next alone.
	_ = append(got[0].Payload, "garbage"...)
	require.Equal(t, `{"user":"ana"}`, string(got[1].Payload))
}

func TestDecodeRequestContentType(t *testing.T) {
	t.Parallel()

	body := []byte(eventJSON("evt-1"))
	tests := []struct {
		contentType string
		code        Code // "" when accepted
		message     string
	}{
		{"", "", ""},
		{"   ", "", ""},
		{"application/json", "", ""},
		{"APPLICATION/JSON", "", ""},
		{"application/json;charset=utf-8", "", ""},
		{"application/json; charset=UTF8", "", ""},
		{"application/json; charset", "", ""}, // a bad parameter leaves the type readable
		{"application/problem+json", "", ""},
		{"application/x-ndjson", "", ""},
		{"application/x-www-form-urlencoded", Unsupported, "curl -d sends application/x-www-form-urlencoded unless you add -H 'Content-Type: application/json'"},
		{"text/plain", Unsupported, "'Content-Type: application/json'"},
		{"text/plain", Unsupported, "'Content-Type: application/x-ndjson'"},
		{"multipart/form-data; boundary=x", Unsupported, `unsupported Content-Type "multipart/form-data; boundary=x"`},
		{"application/xml", Unsupported, "unsupported Content-Type"},
		{"json", Unsupported, "unsupported Content-Type"},
		{"/", Unsupported, "unsupported Content-Type"},
		{"application/json; charset=latin1", Unsupported, "send the body as UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest(tt.contentType, body, DefaultLimits())
			if tt.code == "" {
				require.NoError(t, err)
				require.Len(t, got, 1)
				return
			}
			e := requireCode(t, err, tt.code)
			require.Contains(t, e.Message, tt.message)
			require.Nil(t, got)
		})
	}
}

// RequireJSON takes what DecodeRequest reads as JSON, and nothing else: no
// Content-Type at all is refused, and so is NDJSON.
func TestRequireJSON(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/json", "APPLICATION/JSON; charset=utf-8", "application/merge-patch+json", "application/json; charset"} {
		require.NoError(t, RequireJSON(ct), ct)
	}
	for ct, message := range map[string]string{
		"":                                  "no Content-Type: send the JSON body with the header 'Content-Type: application/json'",
		"  ":                                "no Content-Type",
		"text/plain;charset=UTF-8":          `unsupported Content-Type "text/plain;charset=UTF-8": send the JSON body with the header 'Content-Type: application/json'`,
		"application/x-ndjson":              "'Content-Type: application/json'",
		"application/x-www-form-urlencoded": "curl -d sends application/x-www-form-urlencoded",
		"application/json; charset=latin1":  "send the body as UTF-8",
		"/":                                 "unsupported Content-Type",
	} {
		e := requireCode(t, RequireJSON(ct), Unsupported)
		require.Contains(t, e.Message, message, ct)
		require.NotContains(t, e.Message, "x-ndjson'", "%q: NDJSON is not offered", ct)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	t.Parallel()

	valid := eventJSON("evt-1")
	tests := []struct {
		name        string
		contentType string
		body        string
		code        Code
		message     string       // contained in Error.Message
		details     []FieldError // exact, when not nil
	}{
		// Syntax: 400.
		{"malformed JSON", "application/json", `{"topic":`, Malformed, "malformed JSON at line 1, column 9", nil},
		{"malformed on a later line", "application/json", "[\n" + valid + ",\n  {\"topic\" \"x\"}\n]", Malformed, "line 3, column 12", nil},
		{"trailing comma", "application/json", `[` + valid + `,]`, Malformed, "invalid character ']'", nil},
		{"invalid UTF-8 outside strings", "application/json", "[\xff]", Malformed, "malformed JSON", nil},
		{"two objects as JSON", "application/json", valid + "\n" + valid, Malformed, "use 'Content-Type: application/x-ndjson'", nil},
		{"ndjson broken line", "application/x-ndjson", valid + "\n" + valid + "\n{\"topic\":}\n", Malformed, "malformed JSON on line 3, column 10", nil},
		{"ndjson pretty-printed", "application/x-ndjson", "{\n" + `"topic":"a"` + "\n}", Malformed, "line 1", nil},
		{"ndjson pretty-printed says one per line", "application/x-ndjson", "{\n" + `"topic":"a"` + "\n}", Malformed, "each line must hold one complete event object", nil},
		{"ndjson line number counts blank lines", "application/x-ndjson", "\n\n" + valid + "\n\nnope\n", Malformed, "line 5", nil},
		{"queue-sized nesting is not JSON's", "application/json", strings.Repeat("[", 10001) + strings.Repeat("]", 10001), Malformed, "malformed JSON", nil},

		// Shape: 422 without details.
		{"top-level number", "application/json", `5`, Invalid, "got a number", nil},
		{"top-level string", "application/json", `"events"`, Invalid, "got a string", nil},
		{"top-level null", "application/json", `null`, Invalid, "got null", nil},
		{"top-level boolean", "application/json", `true`, Invalid, "got a boolean", nil},
		{"events is a number", "application/json", `{"events":5}`, Invalid, `"events" must be an array of event objects, got a number`, nil},
		{"events is null", "application/json", `{"events":null}`, Invalid, `"events" must be an array of event objects, got null`, nil},
		{"events is an object", "application/json", `{"events":` + valid + `}`, Invalid, `got an object`, nil},

		// No events: 422.
		{"empty body", "application/json", ``, Invalid, "no events", nil},
		{"blank body", "", " \n\t ", Invalid, "no events: the request body is empty", nil},
		{"empty array", "application/json", `[]`, Invalid, "no events", nil},
		{"empty wrapper", "application/json", `{"events":[]}`, Invalid, "no events", nil},
		{"empty ndjson", "application/x-ndjson", ``, Invalid, "no events", nil},
		{"blank ndjson", "application/x-ndjson", "\n \r\n\n", Invalid, "no events", nil},

		// Elements that are not objects: 422 with field "".
		{"array element number", "application/json", `[` + valid + `,5]`, Invalid, "1 of 2 events is invalid",
			[]FieldError{{Index: 1, Field: "", Message: "each event must be a JSON object, got a number"}}},
		{"array element array", "application/json", `[[` + valid + `]]`, Invalid, "1 of 1 events is invalid",
			[]FieldError{{Index: 0, Field: "", Message: "each event must be a JSON object, got an array"}}},
		{"wrapper element null", "application/json", `{"events":[null,` + valid + `]}`, Invalid, "",
			[]FieldError{{Index: 0, Field: "", Message: "each event must be a JSON object, got null"}}},
		{"ndjson line string", "application/x-ndjson", valid + "\n\"x\"\n", Invalid, "",
			[]FieldError{{Index: 1, Field: "", Message: "each event must be a JSON object, got a string"}}},
		{"ndjson line holding a batch", "application/x-ndjson", `{"events":[` + valid + `]}` + "\n", Invalid, "1 of 1 events is invalid",
			[]FieldError{{Index: 0, Field: "", Message: `each event must be an object with topic, event_id, timestamp and source; this one is a {"events":[...]} batch, ` +
				`which is only read as a whole JSON body (Content-Type: application/json), not as an element or an NDJSON line`}}},
		{"array element holding a batch", "application/json", `[{"events":[]}]`, Invalid, "", nil},
		{"event with an events member is an event", "application/x-ndjson", `{"topic":"t","events":[]}`, Invalid, "",
			[]FieldError{
				{Index: 0, Field: "event_id", Message: "event_id is required"},
				{Index: 0, Field: "timestamp", Message: "timestamp is required: send an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00"},
				{Index: 0, Field: "source", Message: "source is required"},
			}},
		{"empty object", "application/json", `{}`, Invalid, "1 of 1 events is invalid",
			[]FieldError{
				{Index: 0, Field: "topic", Message: "topic is required"},
				{Index: 0, Field: "event_id", Message: "event_id is required"},
				{Index: 0, Field: "timestamp", Message: "timestamp is required: send an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00"},
				{Index: 0, Field: "source", Message: "source is required"},
			}},
		{"ndjson line array", "application/x-ndjson", "[" + valid + "]\n", Invalid, "",
			[]FieldError{{Index: 0, Field: "", Message: "each event must be a JSON object, got an array"}}},

		// Unsupported: 415.
		{"form content type", "application/x-www-form-urlencoded", valid, Unsupported, "curl -d", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest(tt.contentType, []byte(tt.body), DefaultLimits())
			e := requireCode(t, err, tt.code)
			require.Nil(t, got)
			require.Contains(t, e.Message, tt.message)
			if tt.details != nil {
				require.Equal(t, tt.details, e.Details)
			}
			if tt.code == Malformed {
				var se *json.SyntaxError
				require.ErrorAs(t, err, &se, "the syntax error is kept as the cause")
			}
		})
	}
}

// TestDecodeRequestFieldRejects checks one row per field rule, in every
// request form: each yields the same single FieldError at index 1 of a
// batch whose other events are valid.
func TestDecodeRequestFieldRejects(t *testing.T) {
	t.Parallel()

	for _, tt := range fieldRejections {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := withField(tt.field, tt.value)
			a, c := eventJSON("a"), eventJSON("c")
			forms := map[string][2]string{
				"wrapper": {"application/json", `{"events":[` + a + `,` + bad + `,` + c + `]}`},
				"array":   {"application/json", `[` + a + `,` + bad + `,` + c + `]`},
				"ndjson":  {"application/x-ndjson", a + "\n" + bad + "\n" + c + "\n"},
			}
			for form, req := range forms {
				got, err := DecodeRequest(req[0], []byte(req[1]), DefaultLimits())
				e := requireCode(t, err, Invalid)
				require.Nil(t, got, form)
				require.Equal(t, "1 of 3 events is invalid", e.Message, form)
				require.Len(t, e.Details, 1, form)
				require.Equal(t, 1, e.Details[0].Index, form)
				require.Equal(t, tt.field, e.Details[0].Field, form)
				require.Contains(t, e.Details[0].Message, tt.message, form)
			}

			// The single-event form reports index 0.
			_, err := DecodeRequest("application/json", []byte(bad), DefaultLimits())
			e := requireCode(t, err, Invalid)
			require.Equal(t, []FieldError{{Index: 0, Field: tt.field, Message: e.Details[0].Message}}, e.Details)
		})
	}
}

func TestDecodeRequestCollectsEveryProblem(t *testing.T) {
	t.Parallel()

	body := `{"events":[
		` + eventJSON("ok-0") + `,
		{"topic":"","event_id":5,"timestamp":"2026-11-25","source":"s","payload":[]},
		` + eventJSON("ok-2") + `,
		"not an event",
		{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","payload":{"a":"\u0000"}},
		` + eventJSON("ok-5") + `
	]}`
	got, err := DecodeRequest("", []byte(body), DefaultLimits())
	e := requireRefused(t, got, err, Invalid, "3 of 6 events are invalid")
	require.Equal(t, []FieldError{
		{Index: 1, Field: "topic", Message: "topic must not be empty"},
		{Index: 1, Field: "event_id", Message: "event_id must be a string, got a number"},
		{Index: 1, Field: "timestamp", Message: `timestamp must be an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00; got "2026-11-25"`},
		{Index: 1, Field: "payload", Message: "payload must be a JSON object, got an array"},
		{Index: 3, Field: "", Message: "each event must be a JSON object, got a string"},
		{Index: 4, Field: "source", Message: "source is required"},
		{Index: 4, Field: "payload", Message: `payload.a contains the NUL character (\u0000), which PostgreSQL cannot store`},
	}, e.Details)
}

func TestDecodeRequestMaxEvents(t *testing.T) {
	t.Parallel()

	batch := func(n int) []byte {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = eventJSON(fmt.Sprint(i))
		}
		return []byte(`[` + strings.Join(parts, ",") + `]`)
	}
	lim := Limits{MaxEvents: 5, MaxEventBytes: 1 << 10}

	got, err := DecodeRequest("", batch(5), lim)
	require.NoError(t, err)
	require.Len(t, got, 5)

	got, err = DecodeRequest("", batch(6), lim)
	requireRefused(t, got, err, TooLarge, "6 events in one request; the limit is 5, so split the batch")

	// The count is checked before the events, so a batch that is too large
	// and invalid is reported as too large.
	_, err = DecodeRequest("", []byte(`[1,2,3,4,5,6]`), lim)
	requireCode(t, err, TooLarge)

	// A zero limit means the default, never "unlimited".
	got, err = DecodeRequest("", batch(20), Limits{})
	require.NoError(t, err)
	require.Len(t, got, 20)
	_, err = DecodeRequest("", batch(10001), Limits{})
	requireCode(t, err, TooLarge)
}

func TestDecodeRequestMaxEventBytes(t *testing.T) {
	t.Parallel()

	// An event whose encoding is exactly n bytes: the payload string is
	// padded to fit.
	sized := func(t *testing.T, id string, n int) string {
		ev := withField("payload", `{"pad":""}`)
		ev = strings.Replace(ev, `"evt-1"`, fmt.Sprintf("%q", id), 1)
		got, err := DecodeRequest("", []byte(ev), DefaultLimits())
		require.NoError(t, err)
		enc, err := Encode(got[0])
		require.NoError(t, err)
		require.Less(t, len(enc), n)
		return strings.Replace(ev, `"pad":""`, `"pad":"`+strings.Repeat("x", n-len(enc))+`"`, 1)
	}
	const limit = 1000
	lim := Limits{MaxEvents: 10, MaxEventBytes: limit}
	atLimit, overLimit := sized(t, "at", limit), sized(t, "over", limit+1)

	got, err := DecodeRequest("", []byte(`[`+atLimit+`,`+atLimit+`]`), lim)
	require.NoError(t, err)
	enc, err := Encode(got[0])
	require.NoError(t, err)
	require.Len(t, enc, limit)

	// Whitespace in the request does not count: only the encoded size does.
	padded := strings.Replace(atLimit, `:`, strings.Repeat(" ", 200)+`:`, 1)
	_, err = DecodeRequest("", []byte(padded), lim)
	require.NoError(t, err)

	got, err = DecodeRequest("", []byte(`[`+atLimit+`,`+overLimit+`,`+atLimit+`,`+overLimit+`]`), lim)
	e := requireRefused(t, got, err, TooLarge, "event 1 is too large: event is 1001 bytes encoded; the limit is 1000 (2 events are over the limit)")
	require.Equal(t, []FieldError{
		{Index: 1, Field: "", Message: "event is 1001 bytes encoded; the limit is 1000"},
		{Index: 3, Field: "", Message: "event is 1001 bytes encoded; the limit is 1000"},
	}, e.Details)

	// Validation comes first: an invalid event in the same batch makes it
	// Invalid, not TooLarge.
	_, err = DecodeRequest("", []byte(`[`+overLimit+`,`+withField("topic", "")+`]`), lim)
	requireCode(t, err, Invalid)

	// The default is SQS's 256 KiB.
	big := strings.Replace(withField("payload", `{"pad":""}`), `"pad":""`, `"pad":"`+strings.Repeat("x", 256<<10)+`"`, 1)
	_, err = DecodeRequest("", []byte(big), DefaultLimits())
	requireCode(t, err, TooLarge)
}

func TestDecodeMessage(t *testing.T) {
	t.Parallel()

	one := mustEvent(t, "user.login", "evt-1", "2026-11-25T10:00:00Z", "auth-service", `{"user":"ana"}`)
	two := mustEvent(t, "user.login", "evt-2", "2026-11-25T10:00:00Z", "auth-service", `{"user":"ana"}`)

	t.Run("one object", func(t *testing.T) {
		t.Parallel()
		got, err := DecodeMessage([]byte(eventJSON("evt-1")))
		require.NoError(t, err)
		require.Equal(t, []Event{one}, got)
	})
	t.Run("array", func(t *testing.T) {
		t.Parallel()
		got, err := DecodeMessage([]byte(" [" + eventJSON("evt-1") + ", " + eventJSON("evt-2") + "] "))
		require.NoError(t, err)
		require.Equal(t, []Event{one, two}, got)
	})
	t.Run("an object is an event even with an events member", func(t *testing.T) {
		t.Parallel()
		_, err := DecodeMessage([]byte(`{"events":[` + eventJSON("evt-1") + `]}`))
		e := requireCode(t, err, Invalid)
		require.Len(t, e.Details, 1)
		require.Contains(t, e.Details[0].Message, `this one is a {"events":[...]} batch`)
	})

	tests := []struct {
		name    string
		body    string
		code    Code
		message string
		details []FieldError
	}{
		{"not JSON", `hello`, Malformed, "queue message is not valid JSON at line 1, column 1", nil},
		{"empty", ``, Malformed, "queue message is not valid JSON", nil},
		{"truncated", eventJSON("evt-1")[:40], Malformed, "unexpected end of JSON input", nil},
		{"number", `42`, Invalid, "queue message must be an event object or an array of event objects, got a number", nil},
		{"string", `"x"`, Invalid, "got a string", nil},
		{"empty array", `[]`, Invalid, "no events", nil},
		{"bad event", `[` + eventJSON("evt-1") + `,` + withField("timestamp", `"yesterday"`) + `]`, Invalid, "1 of 2 events is invalid",
			[]FieldError{{Index: 1, Field: "timestamp", Message: `timestamp must be an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00; got "yesterday"`}}},
		{"element not an object", `[true]`, Invalid, "1 of 1 events is invalid",
			[]FieldError{{Index: 0, Field: "", Message: "each event must be a JSON object, got a boolean"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeMessage([]byte(tt.body))
			e := requireCode(t, err, tt.code)
			require.Nil(t, got)
			require.Contains(t, e.Message, tt.message)
			if tt.details != nil {
				require.Equal(t, tt.details, e.Details)
			}
		})
	}
}

func TestDecodeMessageHasNoLimits(t *testing.T) {
	t.Parallel()

	parts := make([]string, 10001)
	for i := range parts {
		parts[i] = eventJSON(fmt.Sprint(i))
	}
	got, err := DecodeMessage([]byte(`[` + strings.Join(parts, ",") + `]`))
	require.NoError(t, err)
	require.Len(t, got, 10001)
}

func TestLineColumn(t *testing.T) {
	t.Parallel()

	data := []byte("ab\ncd\n\nef")
	tests := []struct{ offset, line, col int }{
		{0, 1, 1}, {1, 1, 1}, {2, 1, 2}, {3, 1, 3}, {4, 2, 1}, {5, 2, 2}, {7, 3, 1}, {8, 4, 1}, {10, 4, 3}, {99, 4, 3},
	}
	for _, tt := range tests {
		line, col := lineColumn(data, tt.offset)
		require.Equal(t, [2]int{tt.line, tt.col}, [2]int{line, col}, "offset %d", tt.offset)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	seeds := []string{
		eventJSON("evt-1"),
		`[` + eventJSON("a") + `,` + eventJSON("b") + `]`,
		`{"events":[` + eventJSON("a") + `]}`,
		eventJSON("a") + "\n" + eventJSON("b") + "\n",
		`{"topic":"t\u00e9","event_id":"\ud83d\ude00","timestamp":"2026-11-25T17:00:00.5+07:00","source":"s\"\\","payload":{"a":[1,-2.5e3,true,null,{"b":"\\u0000"}],"c\u0001":"\ud83d\ude00"}}`,
		`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"a":"\u0000"}}`,
		`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"a":"\ud800"}}`,
		`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"n":1e131072}}`,
		`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00","source":"s","payload":[]}`,
		`{"events":5}`, `5`, `[]`, ``, `{`, "[\xff]", `{"topic":"` + "\xc3\x28" + `"}`,
		`{"topic":"t","event_id":"e","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":` + strings.Repeat(`{"a":`, 64) + `1` + strings.Repeat(`}`, 64) + `}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	contentTypes := []string{"", "application/json", "application/x-ndjson", "text/plain"}

	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		lim := Limits{MaxEvents: 50, MaxEventBytes: 2048}
		events, err := DecodeRequest(contentTypes[int(ct)%len(contentTypes)], body, lim)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, []Code{Malformed, Invalid, TooLarge, Unsupported}, e.Code)
			require.NotEmpty(t, e.Message)
			require.Nil(t, events)
			return
		}
		require.NotEmpty(t, events)
		require.LessOrEqual(t, len(events), lim.MaxEvents)
		for _, e := range events {
			enc, err := Encode(e)
			require.NoError(t, err)
			require.Equal(t, string(enc), string(EncodeMessage(e)))
			require.True(t, json.Valid(enc))
			require.Len(t, enc, encodedLen(&e))
			require.LessOrEqual(t, len(enc), lim.MaxEventBytes)

			// encoding/json reads the encoding the same way.
			var std Event
			require.NotImplements(t, (*json.Unmarshaler)(nil), &std, "encoding/json's own reading of the tags")
			require.NoError(t, json.Unmarshal(enc, &std))
			require.Equal(t, e.Topic, std.Topic)
			require.Equal(t, e.EventID, std.EventID)
			require.Equal(t, e.Source, std.Source)
			require.True(t, e.Timestamp.Equal(std.Timestamp))
			require.Equal(t, string(e.Payload), string(std.Payload))

			back, err := DecodeMessage(enc)
			require.NoError(t, err)
			require.Equal(t, []Event{e}, back)
		}
	})
}

// TestDecodeMessageFollowsTheTimestampRule: a queue message is held to the
// rule /publish applies, so one queued before the rule (or by hand) cannot
// put an unreadable row in the database: it is refused, and dead-lettered by
// the consumer. EncodeMessage writes what decoding kept.
func TestDecodeMessageFollowsTheTimestampRule(t *testing.T) {
	t.Parallel()

	for _, ts := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59", "10000-01-01T00:00:00Z"} {
		_, err := DecodeMessage([]byte(withField(FieldTimestamp, `"`+ts+`"`)))
		e := requireCode(t, err, Invalid)
		require.Equal(t, FieldTimestamp, e.Details[0].Field, ts)
	}

	got, err := DecodeMessage([]byte(withField(FieldTimestamp, `"9999-12-31t23:59:59.999999999+00:30"`)))
	require.NoError(t, err)
	require.Equal(t, "9999-12-31T23:59:59.999999+00:30", got[0].Timestamp.Format(time.RFC3339Nano))
	require.Contains(t, string(EncodeMessage(got[0])), `"timestamp":"9999-12-31T23:59:59.999999+00:30"`)
}
