package event

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// validJSONCases are texts on both sides of the JSON grammar's edges: the
// ones a faster validator is most likely to get wrong.
var validJSONCases = []string{
	``, ` `, `null`, `true`, `false`, `nul`, `truex`, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `1E-2`,
	`-1.5e300`, `1e999999`, `"a"`, `"`, `"\"`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/"`, "\"\x01\"", "\"\x7f\"",
	"\"\xff\"", "\"\xc3\x28\"", `"\ud800"`, "\"\t\"", `[]`, `[,]`, `[1,]`, `[1 2]`, `{}`, `{,}`, `{"a"}`,
	`{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}}`, `[[[]]]`, `[[[]]`, " \t\r\n[1]\n", "[1]\v",
	"\ufeff[1]", `[1] [2]`, `{"a":[1,{"b":null}],"c":"d"}`,
}

// deepJSONCases are at and beyond encoding/json's nesting limit.
var deepJSONCases = []string{
	strings.Repeat(`[`, maxJSONDepth) + strings.Repeat(`]`, maxJSONDepth),
	strings.Repeat(`[`, maxJSONDepth+1) + strings.Repeat(`]`, maxJSONDepth+1),
	`[` + strings.Repeat(`{"a":1},`, maxJSONDepth) + `{}]`,
}

func TestMayNestDeeper(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want bool
	}{
		{`[[[]]]`, false},
		{strings.Repeat(`[`, 4), true},
		{`[` + strings.Repeat(`{"a":[1]},`, 10) + `{}]`, false},        // many opened, never more than 3 at once
		{`["` + strings.Repeat(`[`, 10) + `"]`, false},                 // brackets in a string do not count
		{`["\\"` + strings.Repeat(`[`, 10) + `"]`, true},               // a quote after an escaped backslash ends the string
		{`["\"` + strings.Repeat(`[`, 10) + `"]`, false},               // an escaped quote does not
		{`[` + strings.Repeat(`"x",[`, 4) + `]]]]]`, true},             // strings between the brackets
		{strings.Repeat(`[`, 3) + strings.Repeat(`]`, 5) + `[`, false}, // invalid, and never deeper than 3
	} {
		require.Equal(t, tc.want, mayNestDeeper([]byte(tc.text), 3), "%s", tc.text)
	}
}

// TestValidJSONSurvivesMegabytesOfBrackets: a publish body of the largest
// size accepted that only opens arrays must be refused, not crash the
// process by recursing too deep.
func TestValidJSONSurvivesMegabytesOfBrackets(t *testing.T) {
	t.Parallel()
	for _, open := range []string{`[`, `{"a":`} {
		body := []byte(strings.Repeat(open, 6<<20/len(open)))
		require.False(t, validJSON(body))
		_, err := DecodeRequest("application/json", body, DefaultLimits())
		requireCode(t, err, Malformed)
		_, err = DecodeMessage(body)
		requireCode(t, err, Malformed)
	}
}

func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range append(validJSONCases, deepJSONCases...) {
		require.Equal(t, json.Valid([]byte(c)), validJSON([]byte(c)), "%.80q", c)
	}
	require.True(t, validJSON([]byte(`{"events":[`+eventJSON("a")+`,`+eventJSON("b")+`]}`)))
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		require.Equal(t, json.Valid(data), validJSON(data), "%.200q", data)
		if json.Valid(data) {
			require.Equal(t, jsonDepth(t, data) > 3, mayNestDeeper(data, 3), "%.200q", data)
		}
	})
}

// jsonDepth is how deeply the valid JSON text data nests, as encoding/json
// reads it.
func jsonDepth(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers of any size
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		require.NoError(t, err)
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
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
