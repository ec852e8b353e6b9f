package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

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
