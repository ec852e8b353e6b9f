package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nested returns a payload nested depth levels deep: objects, or a payload
// object holding arrays when arrays is set.
func nested(depth int, arrays bool) string {
	if arrays {
		return `{"a":` + strings.Repeat(`[`, depth-1) + strings.Repeat(`]`, depth-1) + `}`
	}
	return strings.Repeat(`{"a":`, depth-1) + `{}` + strings.Repeat(`}`, depth-1)
}

type fieldRejection struct {
	name    string
	field   string
	value   string // raw JSON; "" removes the field
	message string // contained in the FieldError's message
}

// fieldRejections has one row per rule of SPEC's Event section.
var fieldRejections = func() []fieldRejection {
	var rows []fieldRejection
	for _, field := range []string{FieldTopic, FieldEventID, FieldSource} {
		add := func(name, value, message string) {
			rows = append(rows, fieldRejection{field + " " + name, field, value, message})
		}
		add("missing", "", field+" is required")
		add("null", `null`, field+" must be a string, got null")
		add("number", `5`, field+" must be a string, got a number")
		add("boolean", `true`, field+" must be a string, got a boolean")
		add("array", `["a"]`, field+" must be a string, got an array")
		add("object", `{"a":"b"}`, field+" must be a string, got an object")
		add("empty", `""`, field+" must not be empty")
		add("256 ASCII characters", `"`+strings.Repeat("a", 256)+`"`, field+" is 256 characters long; the limit is 255")
		add("256 two-byte characters", `"`+strings.Repeat("é", 256)+`"`, field+" is 256 characters long; the limit is 255")
		add("256 four-byte characters", `"`+strings.Repeat("😀", 256)+`"`, field+" is 256 characters long; the limit is 255")
		add("256 escaped characters", `"`+strings.Repeat(`\u00e9`, 256)+`"`, field+" is 256 characters long; the limit is 255")
		add("escaped newline", `"a\nb"`, field+" must not contain control characters; found U+000A at character 2")
		add("escaped tab", `"\tb"`, "found U+0009 at character 1")
		add("escaped control", `"ab\u001f"`, "found U+001F at character 3")
		add("raw DEL", "\"a\x7f\"", "found U+007F at character 2")
		add("raw C1 control", "\"é\u0085\"", "found U+0085 at character 2")
		add("escaped C1 control", `"\u009f"`, "found U+009F at character 1")
		add("NUL", `"a\u0000"`, field+` must not contain the NUL character (\u0000), which PostgreSQL cannot store`)
		add("lone high surrogate", `"a\ud800b"`, field+` contains \ud800, a UTF-16 surrogate escape without its pair`)
		add("lone low surrogate", `"\udc00"`, `contains \udc00, a UTF-16 surrogate escape without its pair`)
		add("invalid UTF-8", "\"ab\xff\"", field+" is not valid UTF-8 (at character 3)")

		// Characters that show nothing or reorder the text let one name
		// pass for another.
		const lookAlike = " must not contain invisible or bidirectional formatting characters, which let one name pass for another; found "
		add("right-to-left override", "\"txt.exe\u202egpj\"", field+lookAlike+"U+202E RIGHT-TO-LEFT OVERRIDE at character 8")
		add("escaped right-to-left override", `"txt.exe\u202Egpj"`, field+lookAlike+"U+202E RIGHT-TO-LEFT OVERRIDE at character 8")
		add("left-to-right mark", `"a\u200e"`, "found U+200E LEFT-TO-RIGHT MARK at character 2")
		add("arabic letter mark", `"\u0628\u061c"`, "found U+061C ARABIC LETTER MARK at character 2")
		add("first strong isolate", `"\u2068a"`, "found U+2068 FIRST STRONG ISOLATE at character 1")
		add("zero width space", "\"admin\u200b\"", field+lookAlike+"U+200B ZERO WIDTH SPACE at character 6")
		add("zero width joiner", "\"👨\u200d👩\"", "found U+200D ZERO WIDTH JOINER at character 2")
		add("zero width non-joiner", `"a\u200cb"`, "found U+200C ZERO WIDTH NON-JOINER at character 2")
		add("word joiner", `"a\u2060b"`, "found U+2060 WORD JOINER at character 2")
		add("soft hyphen", `"ad\u00admin"`, "found U+00AD SOFT HYPHEN at character 3")
		add("byte order mark", `"\ufeffadmin"`, "found U+FEFF ZERO WIDTH NO-BREAK SPACE at character 1")
		add("combining grapheme joiner", `"a\u034f"`, "found U+034F COMBINING GRAPHEME JOINER at character 2")
		add("Mongolian vowel separator", `"a\u180eb"`, "found U+180E MONGOLIAN VOWEL SEPARATOR at character 2")
		add("Hangul filler", `"\u3164"`, "found U+3164 HANGUL FILLER at character 1")
		add("variation selector 16", "\"❤\ufe0f\"", "found U+FE0F VARIATION SELECTOR-16 at character 2")
		add("variation selector 17", `"a\udb40\udd00"`, "found U+E0100 VARIATION SELECTOR-17 at character 2")
		add("tag letter", `"a\udb40\udc41"`, "found U+E0041 TAG LATIN CAPITAL LETTER A at character 2")
		add("unassigned default ignorable", `"a\udb40\udc02"`, field+lookAlike+"U+E0002 at character 2")
		add("musical beam", `"\ud834\udd73"`, "found U+1D173 MUSICAL SYMBOL BEGIN BEAM at character 1")
	}

	add := func(field, name, value, message string) {
		rows = append(rows, fieldRejection{field + " " + name, field, value, message})
	}
	const form = "an RFC 3339 timestamp with a time-zone offset, such as 2026-11-25T10:00:00Z or 2026-11-25T10:00:00+07:00"
	add(FieldTimestamp, "missing", "", "timestamp is required: send "+form)
	add(FieldTimestamp, "null", `null`, "timestamp must be a string, "+form+"; got null")
	add(FieldTimestamp, "unix seconds", `1764064800`, "timestamp must be a string, "+form+"; got a number")
	add(FieldTimestamp, "object", `{}`, "got an object")
	add(FieldTimestamp, "empty", `""`, `timestamp must be `+form+`; got ""`)
	add(FieldTimestamp, "no offset", `"2026-11-25T10:00:00"`, `timestamp "2026-11-25T10:00:00" has no time-zone offset: add Z for UTC or an offset such as +07:00`)
	add(FieldTimestamp, "no offset, fraction", `"2026-11-25T10:00:00.25"`, `has no time-zone offset`)
	add(FieldTimestamp, "date only", `"2026-11-25"`, `timestamp must be `+form+`; got "2026-11-25"`)
	add(FieldTimestamp, "word", `"yesterday"`, `timestamp must be `+form+`; got "yesterday"`)
	add(FieldTimestamp, "space separator", `"2026-11-25 10:00:00Z"`, `got "2026-11-25 10:00:00Z"`)
	add(FieldTimestamp, "offset without colon", `"2026-11-25T10:00:00+0700"`, `got "2026-11-25T10:00:00+0700"`)
	add(FieldTimestamp, "offset of 24 hours", `"2026-11-25T10:00:00+24:00"`, `has a time-zone offset outside -23:59 to +23:59`)
	add(FieldTimestamp, "day out of range", `"2026-02-30T10:00:00Z"`, `got "2026-02-30T10:00:00Z"`)
	add(FieldTimestamp, "hour 24", `"2026-11-25T24:00:00Z"`, `got "2026-11-25T24:00:00Z"`)
	const outside = "outside the range that every part can store and give back: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"
	add(FieldTimestamp, "after 9999 in UTC", `"9999-12-31T23:59:59-23:59"`, `timestamp "9999-12-31T23:59:59-23:59" is 10000-01-01T23:58:59Z in UTC, `+outside)
	add(FieldTimestamp, "just after 9999 in UTC", `"9999-12-31T23:59:59.999999-00:01"`, `is 10000-01-01T00:00:59.999999Z in UTC, `+outside)
	add(FieldTimestamp, "before year 0 in UTC", `"0000-01-01T00:00:00+23:59"`, `timestamp "0000-01-01T00:00:00+23:59" is -0001-12-31T00:01:00Z in UTC, `+outside)
	add(FieldTimestamp, "just before year 0 in UTC", `"0000-01-01T00:00:00.999999+00:01"`, `is -0001-12-31T23:59:00.999999Z in UTC, `+outside)
	add(FieldTimestamp, "upper-case T only in the middle", `"2026-11-25T10:00:00Zz"`, `got "2026-11-25T10:00:00Zz"`)
	add(FieldTimestamp, "long value is shortened", `"`+strings.Repeat("9", 100)+`"`, `got "`+strings.Repeat("9", 40)+`…"`)

	add(FieldPayload, "array", `[1]`, "payload must be a JSON object, got an array")
	add(FieldPayload, "string", `"{}"`, "payload must be a JSON object, got a string")
	add(FieldPayload, "number", `5`, "payload must be a JSON object, got a number")
	add(FieldPayload, "boolean", `false`, "payload must be a JSON object, got a boolean")
	add(FieldPayload, "65 levels of objects", nested(65, false), "payload is nested more than 64 levels deep")
	add(FieldPayload, "65 levels with arrays", nested(65, true), "payload is nested more than 64 levels deep (objects and arrays, the payload itself being level 1) at payload.a"+strings.Repeat("[0]", 62))
	add(FieldPayload, "NUL in a value", `{"a":{"b":["x","y\u0000"]}}`, `payload.a.b[1] contains the NUL character (\u0000), which PostgreSQL cannot store`)
	add(FieldPayload, "NUL in a key", `{"a":{"b\u0000":1}}`, `payload.a["b\u0000"] contains the NUL character (\u0000)`)
	add(FieldPayload, "NUL after an escaped backslash", `{"a":"\\\u0000"}`, `payload.a contains the NUL character`)
	add(FieldPayload, "lone high surrogate", `{"a":"x\ud83d"}`, `payload.a contains \ud83d, a UTF-16 surrogate escape without its pair, which PostgreSQL's jsonb refuses`)
	add(FieldPayload, "high surrogate before a non-surrogate escape", `{"a":"\ud83d\u0041"}`, `contains \ud83d, a UTF-16 surrogate escape without its pair`)
	add(FieldPayload, "high surrogate before another high", `{"a":"\ud83d\ud83d"}`, `contains \ud83d, a UTF-16 surrogate escape without its pair`)
	add(FieldPayload, "high surrogate before an escaped quote", `{"a":"\ud83d\""}`, `contains \ud83d`)
	add(FieldPayload, "lone low surrogate", `{"list":[1,"\uDE00"]}`, `payload.list[1] contains \uDE00, a UTF-16 surrogate escape without its pair`)
	add(FieldPayload, "lone surrogate in a key", `{"\ud800":1}`, `payload["\ud800"] contains \ud800`)
	add(FieldPayload, "invalid UTF-8", "{\"a\":\"\xc3\x28\"}", `payload.a contains invalid UTF-8`)
	add(FieldPayload, "number too large for numeric", `{"n":1e131072}`, `payload.n holds the number "1e131072", which is outside the range PostgreSQL can store`)
	add(FieldPayload, "number too precise for numeric", `{"n":[1e-16384]}`, `payload.n[0] holds the number "1e-16384"`)
	add(FieldPayload, "odd key in path", `{"a b":{"c":"\u0000"}}`, `payload["a b"].c contains the NUL character`)
	return rows
}()

func TestTextAccepts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		raw  string // JSON string
		want string
	}{
		{"one character", `"a"`, "a"},
		{"255 ASCII characters", `"` + strings.Repeat("a", 255) + `"`, strings.Repeat("a", 255)},
		{"255 two-byte characters", `"` + strings.Repeat("é", 255) + `"`, strings.Repeat("é", 255)},
		{"255 four-byte characters", `"` + strings.Repeat("😀", 255) + `"`, strings.Repeat("😀", 255)},
		{"255 escaped characters", `"` + strings.Repeat(`\u00e9`, 255) + `"`, strings.Repeat("é", 255)},
		{"255 surrogate pairs", `"` + strings.Repeat(`\ud83d\ude00`, 255) + `"`, strings.Repeat("😀", 255)},
		{"escapes", `"a\"b\\c\/d"`, `a"b\c/d`},
		{"spaces", `" a b "`, " a b "},
		// Letters of any script, right-to-left ones too, and emoji without
		// joiners or variation selectors are names.
		{"accented", `"caf\u00e9.\u00e9v\u00e9nement"`, "café.événement"},
		{"Japanese", `"日本.ログイン"`, "日本.ログイン"},
		{"Hebrew and Arabic", `"שלום-مرحبا"`, "שלום-مرحبا"},
		{"emoji", `"deploy-🚀-😀"`, "deploy-🚀-😀"},
		{"Hangul syllables", `"한국어"`, "한국어"},
		{"line separator is not a format character", `"a\u2028b"`, "a\u2028b"},
		// Format characters that Default_Ignorable_Code_Point leaves out
		// because they are meant to be seen.
		{"Arabic number sign", `"\u0600\u0661"`, "\u0600\u0661"},
		{"Egyptian hieroglyph joiner", `"\ud80d\udc30"`, "\U00013430"},
		{"escaped backslash then u0000 text", `"\\u0000"`, `\u0000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, field := range []string{FieldTopic, FieldEventID, FieldSource} {
				got, err := DecodeRequest("", []byte(withField(field, tt.raw)), DefaultLimits())
				require.NoError(t, err, field)
				e := got[0]
				value := map[string]string{FieldTopic: e.Topic, FieldEventID: e.EventID, FieldSource: e.Source}[field]
				require.Equal(t, tt.want, value, field)
			}
		})
	}
}

func TestTimestampAccepts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		raw     string
		instant time.Time
		offset  int // seconds east of UTC
	}{
		{"2026-11-25T10:00:00Z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25T17:00:00+07:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 7 * 3600},
		{"2026-11-25T04:30:00-05:30", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), -(5*3600 + 30*60)},
		{"2026-11-25T10:00:00+00:00", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25T10:00:00.123456789Z", time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC), 0},
		{"2026-11-25T10:00:00.5+23:59", time.Date(2026, 11, 24, 10, 1, 0, 500000000, time.UTC), 23*3600 + 59*60},
		{"0001-01-01T00:00:00Z", time.Time{}, 0},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"0000-01-01T23:59:00+23:59", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 23*3600 + 59*60},
		{"9999-12-31T23:59:59.999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"9999-12-31T00:00:59-23:59", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), -(23*3600 + 59*60)},
		// More than six fractional digits are cut to microseconds, never
		// rounded up: what PostgreSQL stores is what was accepted.
		{"2026-11-25T10:00:00.1234569Z", time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC), 0},
		{"9999-12-31T23:59:59.9999995Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"9999-12-31T23:59:59.999999999Z", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), 0},
		{"0000-01-01T00:00:00.0000009Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		// RFC 3339 §5.6 allows the T and the Z in lower case.
		{"2026-11-25t10:00:00z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
		{"2026-11-25t17:00:00.5+07:00", time.Date(2026, 11, 25, 10, 0, 0, 500000000, time.UTC), 7 * 3600},
		{"2026-11-25T10:00:00z", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), 0},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest("", []byte(withField(FieldTimestamp, `"`+tt.raw+`"`)), DefaultLimits())
			require.NoError(t, err)
			ts := got[0].Timestamp
			require.True(t, ts.Equal(tt.instant), "got %s", ts)
			require.Equal(t, tt.instant.Nanosecond(), ts.Nanosecond(), "exactly, not only Equal")
			name, offset := ts.Zone()
			require.Equal(t, tt.offset, offset)
			if offset != 0 {
				require.Empty(t, name, "no zone name borrowed from the local zone")
			}
		})
	}
}

func TestPayloadAccepts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		raw  string // "" means absent
		want string
	}{
		{"absent", "", `{}`},
		{"null", `null`, `{}`},
		{"empty", `{}`, `{}`},
		{"empty with space", `{ }`, `{}`},
		{"compacted", "{ \"a\" : [ 1 , 2.5e-3 , true , false , null ] ,\n\t\"b\" : { \"c\" : \"x y\" } }", `{"a":[1,2.5e-3,true,false,null],"b":{"c":"x y"}}`},
		{"escapes kept as sent", `{"q":"\"\\\/\b\f\n\r\t\u00e9\u0001"}`, `{"q":"\"\\\/\b\f\n\r\t\u00e9\u0001"}`},
		{"escaped backslash then u0000 text", `{"a":"\\u0000","\\u0000":1}`, `{"a":"\\u0000","\\u0000":1}`},
		{"surrogate pair", `{"a":"\ud83d\ude00","\uD83D\uDE00":1}`, `{"a":"\ud83d\ude00","\uD83D\uDE00":1}`},
		{"UTF-8 as is", `{"a":"😀 ünïcödé"}`, `{"a":"😀 ünïcödé"}`},
		{"64 levels of objects", nested(64, false), nested(64, false)},
		{"64 levels with arrays", nested(64, true), nested(64, true)},
		{"wide rather than deep", `{"a":[` + strings.Repeat(`{"b":[]},`, 100) + `{}]}`, `{"a":[` + strings.Repeat(`{"b":[]},`, 100) + `{}]}`},
		{"numbers at numeric's edges", `{"a":1e131071,"b":9.99e131071,"c":1e-16383,"d":0e200000,"e":-0.1e131072}`, `{"a":1e131071,"b":9.99e131071,"c":1e-16383,"d":0e200000,"e":-0.1e131072}`},
		{"duplicate keys kept", `{"a":1,"a":2}`, `{"a":1,"a":2}`},
		{"format characters are prose", "{\"\u202e\":\"a\u200bb\u200d\ufe0f\"}", "{\"\u202e\":\"a\u200bb\u200d\ufe0f\"}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeRequest("", []byte(withField(FieldPayload, tt.raw)), DefaultLimits())
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got[0].Payload))

			var compact bytes.Buffer
			raw := tt.raw
			if raw == "" || raw == "null" {
				raw = "{}"
			}
			require.NoError(t, json.Compact(&compact, []byte(raw)))
			require.Equal(t, compact.String(), string(got[0].Payload), "same as json.Compact")
		})
	}
}

// TestNumericFits pins numericFits to what PostgreSQL 15 answered for
// SELECT '{"a":N}'::jsonb.
func TestNumericFits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		num  string
		fits bool
	}{
		{"0", true}, {"-0", true}, {"1", true}, {"-1.5", true}, {"1E5", true}, {"1e+5", true},
		{"123456789012345678901234567890", true},
		{"1e131071", true}, {"9.99e131071", true}, {"10e131070", true}, {"0.1e131072", true}, {"0.01e131073", true}, {"-1e131071", true},
		{"1e131072", false}, {"1e200000", false}, {"10e131071", false}, {"0.1e131073", false},
		{"1e-16383", true}, {"1000e-16383", true}, {"1.000e-16380", true}, {"0.00001e-16378", true}, {"0e-16383", true},
		{"1e-16384", false}, {"1e-20000", false}, {"1.0000e-16380", false}, {"1000e-16386", false}, {"0.0e-16383", false}, {"0e-20000", false},
		{"0e200000", true}, {"0.0000e131071", true}, {"0e500000000", true}, {"0e1000000000", true}, {"0e1073741822", true},
		{"0e1073741823", false}, {"0e1073741824", false}, {"0e2000000000", false}, {"0e-1073741822", false}, {"1e-1073741824", false},
		{"1e99999999999999999999999999", false}, {"0e99999999999999999999999999", false},
		{"0." + strings.Repeat("1", 16383), true}, {"0." + strings.Repeat("1", 16384), false},
	}
	for _, tt := range tests {
		name := tt.num
		if len(name) > 30 {
			name = name[:30]
		}
		require.Equal(t, tt.fits, numericFits([]byte(tt.num)), name)
	}
}

func TestPayloadPath(t *testing.T) {
	t.Parallel()

	tests := []struct {
		payload string
		want    string
	}{
		{`{"a":"\u0000"}`, `payload.a`},
		{`{"a":[{"b":1},{"c":["\u0000"]}]}`, `payload.a[1].c[0]`},
		{`{"x":1,"y":{"z":2},"a":{"b":[[],[1,2,"\u0000"]]}}`, `payload.a.b[1][2]`},
		{`{"with space":{"under_score-dash9":"\u0000"}}`, `payload["with space"].under_score-dash9`},
		{`{"\u00e9":"\u0000"}`, `payload["\u00e9"]`},
		{`{"":"\u0000"}`, `payload[""]`},
	}
	for _, tt := range tests {
		_, problem := appendPayload(nil, []byte(tt.payload))
		require.True(t, strings.HasPrefix(problem, tt.want+" contains"), "%s: %s", tt.payload, problem)
	}
}

func TestUnescapeString(t *testing.T) {
	t.Parallel()

	tests := []string{
		`plain`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u20ac\ud83d\ude00`, `a\u0000b`, `\\u0000`, `\uFFFF\uFEFF`,
	}
	for _, s := range tests {
		got, problem := unescapeString(nil, []byte(s))
		require.Empty(t, problem)
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+s+`"`), &want))
		require.Equal(t, want, string(got), s)
	}
	for _, s := range []string{`\ud800`, `\udfff`, `\ud800x`, `\ud800\n`, `\ud800\ud800`} {
		_, problem := unescapeString(nil, []byte(s))
		require.Contains(t, problem, "without its pair", s)
	}
}

func TestCheckTextRuneCount(t *testing.T) {
	t.Parallel()

	for _, r := range []string{"a", "é", "€", "😀"} {
		require.Empty(t, checkText(strings.Repeat(r, MaxTextLength)), r)
		require.Equal(t, fmt.Sprintf("is %d characters long; the limit is %d", MaxTextLength+1, MaxTextLength),
			checkText(strings.Repeat(r, MaxTextLength+1)), r)
	}
}

// TestParseTimestamp checks the exported parser the query API uses for since
// and until: the same rule as an event's timestamp, and an error worded to
// follow the value's name.
func TestParseTimestamp(t *testing.T) {
	t.Parallel()

	got, err := ParseTimestamp("2026-11-25t17:00:00.1234567+07:00")
	require.NoError(t, err)
	require.Equal(t, "2026-11-25T17:00:00.123456+07:00", got.Format(time.RFC3339Nano))

	for s, want := range map[string]string{
		"yesterday":                 `must be an RFC 3339 timestamp with a time-zone offset`,
		"2026-11-25T10:00:00":       `"2026-11-25T10:00:00" has no time-zone offset`,
		"9999-12-31T23:59:59-23:59": `"9999-12-31T23:59:59-23:59" is 10000-01-01T23:58:59Z in UTC, outside the range`,
	} {
		got, err := ParseTimestamp(s)
		require.Error(t, err, s)
		require.True(t, got.IsZero(), s)
		require.True(t, strings.HasPrefix(err.Error(), want), "%s: %s", s, err)
	}
}
