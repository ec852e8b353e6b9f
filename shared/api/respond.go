package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"

	"github.com/logagg/logagg/shared/event"
)

// Codes of errors that only the HTTP edge raises.
const (
	unauthorized     event.Code = "unauthorized"       // 401: no key, or a wrong one
	notFound         event.Code = "not_found"          // 404: no such route
	methodNotAllowed event.Code = "method_not_allowed" // 405
	forbidden        event.Code = "forbidden"          // 403: a browser request from another site
	timedOut         event.Code = "timed_out"          // 408: the body did not arrive in time
	clientClosed     event.Code = "client_closed"      // 499: the client went away before the answer
)

// statusClientClosed is nginx's "client closed request": nobody reads it,
// but the metrics count it apart from the server's own errors.
const statusClientClosed = 499

// statusOf maps an error code to its HTTP status.
var statusOf = map[event.Code]int{
	event.Malformed:   http.StatusBadRequest,
	unauthorized:      http.StatusUnauthorized,
	notFound:          http.StatusNotFound,
	methodNotAllowed:  http.StatusMethodNotAllowed,
	event.TooLarge:    http.StatusRequestEntityTooLarge,
	event.Unsupported: http.StatusUnsupportedMediaType,
	event.Invalid:     http.StatusUnprocessableEntity,
	event.Overloaded:  http.StatusTooManyRequests,
	event.Unavailable: http.StatusServiceUnavailable,
	event.Internal:    http.StatusInternalServerError,
	forbidden:         http.StatusForbidden,
	timedOut:          http.StatusRequestTimeout,
	clientClosed:      statusClientClosed,
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

// clientLeft is the error for a request whose client went away while the
// server was doing something for it: logged at debug, since nothing is
// wrong with the server, and answered 499.
func (s *Server) clientLeft(doing string, err error) error {
	s.deps.Logger.Debug("client went away", "while", doing, "error", err)
	return event.Wrap(clientClosed, err, "client closed the request")
}

// canceledByClient reports whether any of errs (what failed, the request
// context's own error) is the request's client going away: Go's server
// cancels a request's context when its connection closes, and what was
// being done for it fails with context.Canceled. A deadline (Lambda's, a
// check's own) is not that.
func canceledByClient(errs ...error) bool {
	for _, err := range errs {
		if errors.Is(err, context.Canceled) {
			return true
		}
	}
	return false
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
