package event

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	segjson "github.com/segmentio/encoding/json"
)

// maxJSONDepth is the deepest nesting encoding/json accepts.
const maxJSONDepth = 10000

// validJSON reports whether data is one JSON value, accepting exactly what
// encoding/json.Valid accepts. Publish request bodies and queue messages are
// checked whole before they are walked, and segmentio/encoding's validator
// does that several times faster. It recurses once per level of nesting
// without a limit, so a body of a few megabytes of brackets would overflow
// the stack and crash the process: text that may nest deeper than
// maxJSONDepth is left to encoding/json, which stops at that depth.
func validJSON(data []byte) bool {
	if mayNestDeeper(data, maxJSONDepth) {
		return json.Valid(data)
	}
	return segjson.Valid(data)
}

// mayNestDeeper reports whether data may open more than limit arrays and
// objects at once. Text that opens no more than limit in all cannot; other
// text is scanned with strings skipped as a JSON parser reads them, which
// over any valid prefix gives the parser's own depth, so the answer is never
// a wrong "no".
func mayNestDeeper(data []byte, limit int) bool {
	if len(data) <= limit || bytes.Count(data, []byte{'['})+bytes.Count(data, []byte{'{'}) <= limit {
		return false
	}
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			i = skipString(data, i) - 1
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
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

func utf16IsHigh(r rune) bool { return 0xd800 <= r && r < 0xdc00 }

func utf16IsLow(r rune) bool { return 0xdc00 <= r && r < 0xe000 }
