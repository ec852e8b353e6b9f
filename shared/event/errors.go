package event

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Code classifies an error so that the HTTP edge can map it to a status
// without knowing which package raised it.
type Code string

// Error codes, each with the HTTP status the API answers with. The codes
// that only HTTP raises (a missing key, an unknown route, …) live in the
// api package.
const (
	Malformed   Code = "malformed"   // 400: body or query parameter does not parse
	TooLarge    Code = "too_large"   // 413: body, batch or one event over its limit
	Unsupported Code = "unsupported" // 415: content type
	Invalid     Code = "invalid"     // 422: well-formed but fails validation
	Overloaded  Code = "overloaded"  // 429: queue backlog over its limit
	Internal    Code = "internal"    // 500
	Unavailable Code = "unavailable" // 503: a dependency is down
)

// FieldError says what is wrong with one field of one event of a batch.
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a code, a message a person can act on, and, for
// validation failures, one entry per offending field.
type Error struct {
	Code    Code
	Message string
	Details []FieldError
	Err     error // underlying cause, logged but never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message that keeps err as
// its cause.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// quoteShort quotes s for a message, shortened when long.
func quoteShort(s string) string {
	const maxShown = 40
	if utf8.RuneCountInString(s) > maxShown {
		s = string([]rune(s)[:maxShown]) + "…"
	}
	return strconv.Quote(s)
}
