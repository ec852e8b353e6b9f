package event

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxPayloadDepth is how deeply objects and arrays may nest in a payload,
// the payload object itself being level 1.
const MaxPayloadDepth = 64

// PostgreSQL's numeric type, which jsonb stores numbers in, refuses numbers
// outside these bounds (see numericFits).
const (
	pgMaxExponent     = 1<<30 - 1 // INT_MAX/2: the exponent itself
	pgMaxDigitsBefore = 131072    // digits before the decimal point
	pgMaxDigitsAfter  = 16383     // digits after it (NUMERIC_DSCALE_MAX)
)

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
