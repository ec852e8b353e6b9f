package event

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

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

func TestCheckTextRuneCount(t *testing.T) {
	t.Parallel()

	for _, r := range []string{"a", "é", "€", "😀"} {
		require.Empty(t, checkText(strings.Repeat(r, MaxTextLength)), r)
		require.Equal(t, fmt.Sprintf("is %d characters long; the limit is %d", MaxTextLength+1, MaxTextLength),
			checkText(strings.Repeat(r, MaxTextLength+1)), r)
	}
}
