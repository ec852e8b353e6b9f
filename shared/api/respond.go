package api

import (
	"encoding/json"
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
