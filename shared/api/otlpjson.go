package api

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// otlpIDFields are the LogRecord fields that OTLP's JSON encoding writes in
// hex, where protobuf's JSON mapping (protojson) reads base64.
var otlpIDFields = map[string]bool{"traceId": true, "trace_id": true, "spanId": true, "span_id": true}

// jsonFrame is one open object or array of a JSON scan.
type jsonFrame struct {
	array     bool
	name      string // the key this container is the value of; "" in an array
	key       string // an object's key whose value comes next
	expectKey bool
}

// hexIDsToBase64 rewrites the trace and span IDs of an OTLP JSON logs
// request from hex to base64, so that protojson reads them as OTLP means.
// It splices the new strings into the body and leaves every other byte as
// it was, so protojson is as strict with the result as with the body
// (duplicate keys, trailing data); the scan itself refuses invalid UTF-8
// and more than one value, which the splice could otherwise hide. shape
// counts the objects as they open, so that an export over its limits is
// refused before protojson builds it.
func hexIDsToBase64(body []byte, shape *otlpShape) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []jsonFrame
	var out []byte
	last, values := 0, 0
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			break
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		if len(stack) == 0 {
			if values++; values > 1 {
				return nil, errors.New("more than one JSON value in the body")
			}
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && !top.array && top.expectKey {
			top.key, top.expectKey = tok.(string), false
			continue
		}
		name := ""
		if top != nil && !top.array {
			name, top.expectKey = top.key, true
		}
		switch tok := tok.(type) {
		case json.Delim:
			if err := countJSON(shape, tok, stack); err != nil {
				return nil, err
			}
			stack = append(stack, jsonFrame{array: tok == '[', name: name, expectKey: tok == '{'})
		case string:
			if !otlpIDFields[name] || !inLogRecord(stack) {
				continue
			}
			b, err := hex.DecodeString(tok)
			if err != nil {
				return nil, fmt.Errorf("%s %q is not hex", name, tok)
			}
			start := before + int64(bytes.IndexByte(body[before:], '"'))
			out = append(out, body[last:start]...)
			out = strconv.AppendQuote(out, base64.StdEncoding.EncodeToString(b))
			last = int(dec.InputOffset())
		}
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[last:]...), nil
}

// inLogRecord reports whether stack is open at a LogRecord object:
// {"resourceLogs":[{"scopeLogs":[{"logRecords":[{ here.
func inLogRecord(stack []jsonFrame) bool {
	return len(stack) == 7 && inLogRecords(stack[:6]) && !stack[6].array
}

// inLogRecords reports whether stack is open at a logRecords array.
func inLogRecords(stack []jsonFrame) bool {
	return len(stack) == 6 &&
		stack[1].array && (stack[1].name == "resourceLogs" || stack[1].name == "resource_logs") &&
		stack[3].array && (stack[3].name == "scopeLogs" || stack[3].name == "scope_logs") &&
		stack[5].array && (stack[5].name == "logRecords" || stack[5].name == "log_records")
}

// countJSON counts in shape an object that d opens under stack.
func countJSON(shape *otlpShape, d json.Delim, stack []jsonFrame) error {
	if d != '{' {
		return nil
	}
	return shape.count(inLogRecords(stack))
}
