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
// does that several times faster. It has no nesting limit, so text with
// enough brackets to nest deeper than encoding/json allows is left to
// encoding/json.
func validJSON(data []byte) bool {
	if !segjson.Valid(data) {
		return false
	}
	if len(data) > 2*maxJSONDepth && bytes.Count(data, []byte{'['})+bytes.Count(data, []byte{'{'}) > maxJSONDepth {
		return json.Valid(data)
	}
	return true
}
