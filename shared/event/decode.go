package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Limits bound what one publish request may carry.
type Limits struct {
	MaxEvents     int // events in one request (MAX_BATCH)
	MaxEventBytes int // one encoded event (the SQS message limit)
}

// SPEC's defaults of the publish limits.
const (
	DefaultMaxEvents     = 10000     // MAX_BATCH
	DefaultMaxEventBytes = 256 << 10 // MAX_EVENT_BYTES: the SQS message limit
)

// DefaultLimits are SPEC's defaults: 10,000 events, 256 KiB an event.
func DefaultLimits() Limits {
	return Limits{MaxEvents: DefaultMaxEvents, MaxEventBytes: DefaultMaxEventBytes}
}

// OrDefaults replaces a zero or negative limit with its default, so that a
// zero Limits never means "unlimited" by accident.
func (l Limits) OrDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEvents <= 0 {
		l.MaxEvents = d.MaxEvents
	}
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = d.MaxEventBytes
	}
	return l
}

// DecodeRequest decodes a /publish body in any of its four forms and
// validates every event. It is all-or-nothing: it returns every event, or an
// *Error and no events.
//
// The content type selects JSON (none at all, application/json or any
// +json type) or NDJSON (application/x-ndjson and its aliases); anything
// else is Unsupported. A JSON body is {"events":[...]}, a bare array of
// events, or one event object. An object with an "events" member is always
// read as the wrapper form. A body that is well-formed JSON but none of
// these shapes (a number, a string, {"events": 5}) is Invalid, since its
// syntax is fine and only its shape is wrong. An NDJSON body holds one event
// object per non-blank line; blank lines are skipped and do not count as
// events, so an event's index is its position among the events, not its line.
//
// Checks run in this order, the first failing one deciding the error:
// syntax (Malformed, with line and column), shape (Invalid), event count (no
// events: Invalid; over lim.MaxEvents: TooLarge), every field of every event
// (Invalid, one FieldError per bad field), and last the size of each event
// as EncodeMessage writes it, since that is what goes on the queue (over
// lim.MaxEventBytes: TooLarge naming the event). A zero field of lim takes
// its default.
//
// Object keys match field names exactly (encoding/json would also accept
// "Topic"); when a key repeats, the last one wins. Payloads come back
// compacted, in memory that does not alias body.
func DecodeRequest(contentType string, body []byte, lim Limits) ([]Event, error) {
	lim = lim.OrDefaults()
	ndjson, err := requestFormat(contentType)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimPrefix(body, utf8BOM)

	var elems [][]byte
	if ndjson {
		elems, err = splitNDJSON(body)
	} else {
		elems, err = splitJSONRequest(body)
	}
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		if len(skipSpaceBytes(body)) == 0 {
			return nil, Errorf(Invalid, "no events: the request body is empty")
		}
		return nil, Errorf(Invalid, "no events: the batch is empty; send at least one event")
	}
	if len(elems) > lim.MaxEvents {
		return nil, Errorf(TooLarge, "%d events in one request; the limit is %d, so split the batch", len(elems), lim.MaxEvents)
	}

	events, err := decodeEvents(elems)
	if err != nil {
		return nil, err
	}
	if err := checkSizes(events, lim.MaxEventBytes); err != nil {
		return nil, err
	}
	return events, nil
}

// DecodeMessage decodes a queue message body, one event object or a JSON
// array of them, validating each.
//
// It applies the same rules as DecodeRequest except the limits: the queue
// enforces its own. Non-JSON is Malformed; a top level that is neither an
// object nor an array, an empty array, or any bad event is Invalid. An
// object is always one event, whatever its members.
func DecodeMessage(body []byte) ([]Event, error) {
	if !validJSON(body) {
		return nil, syntaxError(body, "queue message is not valid JSON")
	}
	i := skipSpace(body, 0)
	var elems [][]byte
	switch body[i] {
	case '[':
		elems = arrayElements(body, i)
	case '{':
		elems = [][]byte{body[i:skipValue(body, i)]}
	default:
		return nil, Errorf(Invalid, "queue message must be an event object or an array of event objects, got %s", kindOf(body[i:]))
	}
	if len(elems) == 0 {
		return nil, Errorf(Invalid, "no events: the queue message holds an empty array")
	}
	return decodeEvents(elems)
}

var utf8BOM = []byte("\xef\xbb\xbf")

// ndjsonTypes are the media types read as one JSON value per line.
var ndjsonTypes = map[string]bool{
	"application/x-ndjson":    true,
	"application/ndjson":      true,
	"application/jsonl":       true,
	"application/x-jsonlines": true,
}

// requestFormat reports whether contentType selects NDJSON, JSON being the
// other choice, or returns an Unsupported error that says which header to
// send.
func requestFormat(contentType string) (ndjson bool, err error) {
	if strings.TrimSpace(contentType) == "" {
		return false, nil
	}
	kind, err := mediaKind(contentType)
	switch {
	case err != nil:
		return false, err
	case kind == kindJSON:
		return false, nil
	case kind == kindNDJSON:
		return true, nil
	}
	return false, unsupported(contentType)
}

// RequireJSON accepts the content types that requestFormat reads as JSON
// (application/json, any +json type, in UTF-8) and refuses anything else,
// a missing Content-Type included, with an Unsupported error that says
// which header to send. It is for routes that take JSON only and so need
// not guess what a body without a type is.
func RequireJSON(contentType string) error {
	if strings.TrimSpace(contentType) == "" {
		return Errorf(Unsupported, "no Content-Type: send the JSON body with the header 'Content-Type: application/json'")
	}
	kind, err := mediaKind(contentType)
	if err != nil || kind == kindJSON {
		return err
	}
	msg := fmt.Sprintf("unsupported Content-Type %q: send the JSON body with the header 'Content-Type: application/json'", contentType)
	if isForm(contentType) {
		msg += curlHint
	}
	return &Error{Code: Unsupported, Message: msg}
}

const (
	kindJSON   = "json"
	kindNDJSON = "ndjson"
)

// mediaKind says whether contentType is JSON, NDJSON or neither (""). A
// charset other than UTF-8 is an Unsupported error.
func mediaKind(contentType string) (string, error) {
	mediaType, params, perr := mime.ParseMediaType(contentType)
	// A bad parameter still yields the media type, which is what matters.
	if perr != nil && !errors.Is(perr, mime.ErrInvalidMediaParameter) {
		return "", nil
	}
	if cs, ok := params["charset"]; ok {
		switch strings.ToLower(cs) {
		case "utf-8", "utf8", "us-ascii":
		default:
			return "", Errorf(Unsupported, "charset %q is not supported: send the body as UTF-8 (charset=utf-8)", cs)
		}
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return kindJSON, nil
	case ndjsonTypes[mediaType]:
		return kindNDJSON, nil
	}
	return "", nil
}

const curlHint = "; curl -d sends application/x-www-form-urlencoded unless you add -H 'Content-Type: application/json'"

func isForm(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/x-www-form-urlencoded")
}

func unsupported(contentType string) *Error {
	msg := fmt.Sprintf("unsupported Content-Type %q: send JSON with the header "+
		"'Content-Type: application/json', or one event per line with 'Content-Type: application/x-ndjson'", contentType)
	if isForm(contentType) {
		msg += curlHint
	}
	return &Error{Code: Unsupported, Message: msg}
}

// splitJSONRequest checks that body is JSON in one of the three request
// shapes and returns the raw text of each element of its batch.
func splitJSONRequest(body []byte) ([][]byte, error) {
	i := skipSpace(body, 0)
	if i == len(body) {
		return nil, nil
	}
	if !validJSON(body) {
		err := syntaxError(body, "malformed JSON")
		if strings.Contains(err.Err.Error(), "after top-level value") {
			err.Message += "; to send one event per line, use 'Content-Type: application/x-ndjson'"
		}
		return nil, err
	}
	switch body[i] {
	case '[':
		return arrayElements(body, i), nil
	case '{':
		it := memberIter{data: body, pos: i + 1}
		var events []byte
		for {
			key, val, ok := it.next()
			if !ok {
				break
			}
			if keyEquals(key, "events") {
				events = val
			}
		}
		if events == nil {
			return [][]byte{body[i:skipValue(body, i)]}, nil
		}
		if events[0] != '[' {
			return nil, Errorf(Invalid, `"events" must be an array of event objects, got %s`, kindOf(events))
		}
		return arrayElements(events, 0), nil
	}
	return nil, Errorf(Invalid, `the body must be {"events":[...]}, an array of event objects, or one event object; got %s`, kindOf(body[i:]))
}

// splitNDJSON returns the raw text of each non-blank line of body, each
// checked to be one JSON value.
func splitNDJSON(body []byte) ([][]byte, error) {
	var elems [][]byte
	for line, rest := 1, body; len(rest) > 0; line++ {
		var text []byte
		if n := bytes.IndexByte(rest, '\n'); n >= 0 {
			text, rest = rest[:n], rest[n+1:]
		} else {
			text, rest = rest, nil
		}
		value := skipSpaceBytes(text)
		if len(value) == 0 {
			continue
		}
		if !validJSON(text) {
			var raw json.RawMessage
			err := json.Unmarshal(text, &raw)
			var se *json.SyntaxError
			if !errors.As(err, &se) {
				return nil, Wrap(Malformed, err, fmt.Sprintf("malformed JSON on line %d", line))
			}
			_, col := lineColumn(text, int(se.Offset))
			return nil, Wrap(Malformed, se, fmt.Sprintf(
				"malformed JSON on line %d, column %d: %s; each line must hold one complete event object",
				line, col, se.Error()))
		}
		elems = append(elems, value)
	}
	return elems, nil
}

// syntaxError describes where data stops being JSON. It must only be called
// on data that validJSON rejects.
func syntaxError(data []byte, what string) *Error {
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return Wrap(Malformed, err, what)
	}
	line, col := lineColumn(data, int(se.Offset))
	return Wrap(Malformed, se, fmt.Sprintf("%s at line %d, column %d (byte %d): %s", what, line, col, se.Offset, se.Error()))
}

// lineColumn returns the 1-based line and column of the offset-th byte of
// data (offset being 1-based, as json.SyntaxError counts bytes read).
func lineColumn(data []byte, offset int) (line, col int) {
	pos := min(max(offset-1, 0), len(data))
	before := data[:pos]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = pos - bytes.LastIndexByte(before, '\n')
	return line, col
}

// decodeEvents validates each raw element and returns the events, or an
// Invalid error listing every problem of every element.
func decodeEvents(elems [][]byte) ([]Event, error) {
	size := 0
	for _, raw := range elems {
		size += len(raw)
	}
	d := newBatchDecoder(len(elems), size)
	for i, raw := range elems {
		d.add(i, raw)
	}
	if d.invalid > 0 {
		verb := "are"
		if d.invalid == 1 {
			verb = "is"
		}
		return nil, &Error{
			Code:    Invalid,
			Message: fmt.Sprintf("%d of %d events %s invalid", d.invalid, len(elems), verb),
			Details: d.details,
		}
	}
	return d.events, nil
}

// checkSizes returns TooLarge when any event, encoded, exceeds maxBytes.
func checkSizes(events []Event, maxBytes int) error {
	var details []FieldError
	for i := range events {
		if n := encodedLen(&events[i]); n > maxBytes {
			details = append(details, FieldError{
				Index:   i,
				Field:   "",
				Message: fmt.Sprintf("event is %d bytes encoded; the limit is %d", n, maxBytes),
			})
		}
	}
	if details == nil {
		return nil
	}
	msg := fmt.Sprintf("event %d is too large: %s", details[0].Index, details[0].Message)
	if len(details) > 1 {
		msg += fmt.Sprintf(" (%d events are over the limit)", len(details))
	}
	return &Error{Code: TooLarge, Message: msg, Details: details}
}

// The functions below walk JSON text that validJSON has accepted, so they
// check nothing beyond what they need to find the ends of values.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// skipSpaceBytes trims JSON whitespace from both ends of data.
func skipSpaceBytes(data []byte) []byte {
	return bytes.Trim(data, " \t\n\r")
}

// skipString returns the index just past the string that opens at i.
func skipString(data []byte, i int) int {
	i++
	for {
		n := bytes.IndexByte(data[i:], '"')
		if n < 0 {
			return len(data)
		}
		i += n
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		slashes := 0
		for j := i - 1; data[j] == '\\'; j-- {
			slashes++
		}
		i++
		if slashes%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index just past the value that starts at i.
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(data)
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// arrayElements returns the raw text of each element of the array that
// opens at i.
func arrayElements(data []byte, i int) [][]byte {
	var elems [][]byte
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != ']' {
		end := skipValue(data, i)
		elems = append(elems, data[i:end])
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return elems
}

// memberIter walks the members of an object; pos starts just past its '{'.
type memberIter struct {
	data []byte
	pos  int
}

// next returns the next member's key (the raw text between its quotes,
// escapes included) and raw value.
func (it *memberIter) next() (key, val []byte, ok bool) {
	i := skipSpace(it.data, it.pos)
	if i < len(it.data) && it.data[i] == ',' {
		i = skipSpace(it.data, i+1)
	}
	if i >= len(it.data) || it.data[i] != '"' {
		return nil, nil, false
	}
	end := skipString(it.data, i)
	key = it.data[i+1 : end-1]
	i = skipSpace(it.data, end)
	i = skipSpace(it.data, i+1) // past ':'
	end = skipValue(it.data, i)
	it.pos = end
	return key, it.data[i:end], true
}

// keyEquals reports whether the raw key text names name.
func keyEquals(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return string(key) == name
	}
	unescaped, _ := unescapeString(nil, key)
	return string(unescaped) == name
}

// kindOf names the JSON type of the value that raw starts with.
func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
