package event

import (
	"bytes"
	"encoding/json"

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
