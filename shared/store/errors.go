package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/logagg/logagg/shared/event"
)

// failure says what to do about an error from the database.
type failure int

const (
	failUnavailable failure = iota // the database is out of reach or shutting down: try later
	failRetry                      // deadlock or serialization failure: run the transaction again
	failData                       // PostgreSQL refused the data itself: the same input fails again
	failInternal                   // anything else: a fault in the schema or in this code
)

// failureOf says what to do about err, by its SQLSTATE. Errors without one
// (network, closed pool, cancelled context) mean the database is out of
// reach, and so does a session the server would not start, whatever its
// SQLSTATE (on a full disk PostgreSQL turns sessions away with XX000,
// "could not write init file"), unless it was refused for a reason that
// waiting does not mend (refusedConnection).
func failureOf(err error) failure {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return failUnavailable
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) && !refusedConnection(err) {
		return failUnavailable
	}
	code := pgErr.Code
	switch code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return failRetry
	case "LG001": // a message was committed by a concurrent batch meanwhile: see isRedelivery
		return failRetry
	case "25P03": // idle_in_transaction_session_timeout ended the session (a paused client): a new one will do
		return failUnavailable
	}
	if len(code) < 2 {
		return failInternal
	}
	switch code[:2] {
	case "22", // data exception: bad JSON, untranslatable character, out-of-range value, …
		"23", // integrity constraint violation not absorbed by ON CONFLICT
		"54": // program limit exceeded: index row or jsonb nesting too large
		return failData
	case "08", // connection exception
		"40", // transaction rollback (statement completion unknown, …)
		"53", // insufficient resources: disk full, out of memory, too many connections
		"57", // operator intervention: shutdown, query cancelled
		"58": // system error: I/O
		return failUnavailable
	}
	return failInternal
}

// refusedConnection reports whether the server turned a connection away
// for a reason that waiting does not mend: the database does not exist
// (SQLSTATE 3D000) or the role or its password is wrong (class 28).
func refusedConnection(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "3D000" || strings.HasPrefix(pgErr.Code, "28"))
}

// pgMessage returns PostgreSQL's own message for err, with its detail,
// which name the problem with the data but never the SQL.
func pgMessage(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	if pgErr.Detail != "" {
		return pgErr.Message + " (" + strings.TrimSuffix(pgErr.Detail, ".") + ")"
	}
	return pgErr.Message
}

// unavailable wraps err as the database being out of reach.
func (s *Store) unavailable(err error) *event.Error {
	return event.Wrap(event.Unavailable, err, "the database at "+s.host+" is unavailable")
}

// classify turns an error met while doing something into an *event.Error,
// its code chosen by failureOf, whose message names what failed but carries
// no SQL.
func (s *Store) classify(err error, doing string) *event.Error {
	var e *event.Error
	if errors.As(err, &e) {
		return e
	}
	switch failureOf(err) {
	case failUnavailable, failRetry:
		return s.unavailable(err)
	case failData:
		return event.Wrap(event.Invalid, err, doing+": the database refused the data")
	default:
		return event.Wrap(event.Internal, err, doing+" failed")
	}
}

// isRedelivery reports whether err is the consume transaction's own signal
// (SQLSTATE LG001, raised by logagg_require_new_messages) that some message
// of the batch was already consumed.
func isRedelivery(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "LG001"
}
