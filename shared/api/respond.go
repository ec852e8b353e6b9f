package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"

	"github.com/logagg/logagg/shared/event"
)

// statusOf maps an error code to its HTTP status.
var statusOf = map[event.Code]int{
	event.Malformed:        http.StatusBadRequest,
	event.Unauthorized:     http.StatusUnauthorized,
	event.NotFound:         http.StatusNotFound,
	event.MethodNotAllowed: http.StatusMethodNotAllowed,
	event.TooLarge:         http.StatusRequestEntityTooLarge,
	event.Unsupported:      http.StatusUnsupportedMediaType,
	event.Invalid:          http.StatusUnprocessableEntity,
	event.Overloaded:       http.StatusTooManyRequests,
	event.Unavailable:      http.StatusServiceUnavailable,
	event.Internal:         http.StatusInternalServerError,
}

// retryAfter is the Retry-After (seconds) sent with 429 and 503.
var retryAfter = map[event.Code]string{event.Overloaded: "1", event.Unavailable: "5"}

type errorBody struct {
	Error   string             `json:"error"`
	Details []event.FieldError `json:"details,omitempty"`
}

// writeError answers err as JSON. Only an *event.Error's own message reaches
// the client; anything else is an internal error whose cause stays in the
// logs.
func writeError(w http.ResponseWriter, err error) {
	code := event.ErrorCode(err)
	body := errorBody{Error: "internal error"}
	if e, ok := err.(*event.Error); ok {
		body = errorBody{Error: e.Message, Details: e.Details}
	} else if e := asEventError(err); e != nil {
		body = errorBody{Error: e.Message, Details: e.Details}
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if ra, ok := retryAfter[code]; ok {
		w.Header().Set("Retry-After", ra)
	}
	writeJSON(w, status, body)
}

func asEventError(err error) *event.Error {
	for err != nil {
		if e, ok := err.(*event.Error); ok {
			return e
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil
		}
		err = u.Unwrap()
	}
	return nil
}

// internalErrorBody is what a client sees of a failure it cannot act on.
const internalErrorBody = `{"error":"internal error"}` + "\n"

// writeJSON answers v as JSON with status. It encodes v before writing
// anything, so that a value encoding/json refuses (a time outside years
// 0000–9999, say) is a logged 500 rather than the status followed by a body
// cut short.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		loggerOf(w).Error("response cannot be encoded as JSON; answering 500", "status", status, "error", err)
		status = http.StatusInternalServerError
		body.Reset()
		body.WriteString(internalErrorBody)
		// Paging headers describe the body that could not be sent.
		w.Header().Del(NextCursorHeader)
		w.Header().Del("Link")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// loggerOf returns the Server's logger when w is the writer ServeHTTP
// gives the handlers, and the default logger otherwise.
func loggerOf(w http.ResponseWriter) *slog.Logger {
	if sw, ok := w.(*statusWriter); ok && sw.log != nil {
		return sw.log
	}
	return slog.Default()
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
