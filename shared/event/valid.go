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
// the stack and crash the process: text that opens more than maxJSONDepth
// objects and arrays in all, which is the only text that can nest that
// deep, is left to encoding/json, which stops at that depth.
func validJSON(data []byte) bool {
	if len(data) > maxJSONDepth && bytes.Count(data, []byte{'['})+bytes.Count(data, []byte{'{'}) > maxJSONDepth {
		return json.Valid(data)
	}
	return segjson.Valid(data)
}
