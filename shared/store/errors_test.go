package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

func TestFailureOfAndClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	tests := []struct {
		name string
		err  error
		want failure
		code event.Code
	}{
		{"deadlock", pg("40P01"), failRetry, event.Unavailable},
		{"serialization failure", pg("40001"), failRetry, event.Unavailable},
		{"invalid JSON", pg("22P02"), failData, event.Invalid},
		{"untranslatable character", pg("22P05"), failData, event.Invalid},
		{"timestamp out of range", pg("22008"), failData, event.Invalid},
		{"check violation", pg("23514"), failData, event.Invalid},
		{"index row too large", pg("54000"), failData, event.Invalid},
		{"idle-in-transaction timeout", pg("25P03"), failUnavailable, event.Unavailable},
		{"other invalid transaction state", pg("25001"), failInternal, event.Internal},
		{"connection failure", pg("08006"), failUnavailable, event.Unavailable},
		// What PostgreSQL raised in the fault suite's resource scenarios:
		// a table that cannot grow, a session ended for its slot, a
		// server restarting after its WAL disk filled, no slot left.
		{"disk full", pg("53100"), failUnavailable, event.Unavailable},
		{"admin shutdown, a session ended by pg_terminate_backend", pg("57P01"), failUnavailable, event.Unavailable},
		{"crash shutdown, another server process crashed", pg("57P02"), failUnavailable, event.Unavailable},
		{"cannot connect now, in recovery", pg("57P03"), failUnavailable, event.Unavailable},
		{"too many connections", pg("53300"), failUnavailable, event.Unavailable},
		{"I/O error", pg("58030"), failUnavailable, event.Unavailable},
		{"undefined table", pg("42P01"), failInternal, event.Internal},
		{"network", io.ErrUnexpectedEOF, failUnavailable, event.Unavailable},
		{"cancelled", context.Canceled, failUnavailable, event.Unavailable},
	}
	s := &Store{host: "db.example:5432"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, failureOf(tt.err))
			err := s.classify(tt.err, "doing it")
			require.Equal(t, tt.code, err.Code)
			require.True(t, errors.Is(err, tt.err))
			if tt.code == event.Unavailable {
				require.Contains(t, err.Message, "db.example:5432")
			}
		})
	}
}

func TestRefusedConnection(t *testing.T) {
	t.Parallel()
	connect := func(code string) error {
		return fmt.Errorf("failed to connect: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	require.True(t, refusedConnection(connect("3D000")), "invalid_catalog_name: no such database")
	require.True(t, refusedConnection(connect("28P01")), "invalid_password")
	require.True(t, refusedConnection(connect("28000")), "invalid_authorization_specification: no such role, or pg_hba")
	require.False(t, refusedConnection(connect("57P03")), "cannot_connect_now: starting up")
	require.False(t, refusedConnection(connect("53300")), "too_many_connections")
	require.False(t, refusedConnection(io.ErrUnexpectedEOF))
}

func TestPgMessageCarriesDetailButNoSQL(t *testing.T) {
	t.Parallel()
	err := &pgconn.PgError{Code: "22P02", Message: "invalid input syntax for type json", Detail: "Unicode low surrogate must follow a high surrogate.", InternalQuery: "SELECT secret"}
	require.Equal(t, "invalid input syntax for type json (Unicode low surrogate must follow a high surrogate)", pgMessage(err))
}

// turnAwayServer listens like PostgreSQL and answers every session's
// startup with a FATAL error of code, as PostgreSQL does when it cannot
// start one; it returns the server's URL.
func turnAwayServer(t *testing.T, code, message string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				be := pgproto3.NewBackend(conn, conn)
				if _, err := be.ReceiveStartupMessage(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: code, Message: message})
				_ = be.Flush()
			}()
		}
	}()
	return "postgres://postgres@" + l.Addr().String() + "/logagg?sslmode=disable&connect_timeout=5"
}

// A session the server cannot start is the database out of reach for now,
// whatever its SQLSTATE: on a full disk PostgreSQL turns sessions away
// with XX000 ("could not write init file"), which must be a 503 with
// Retry-After on a read and a retry for a batch, not an internal error. A
// database that does not exist, or a wrong password, is not an outage.
func TestSessionTurnedAwayIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	count := func(url string) error {
		pool, err := pgxpool.New(ctx, url)
		require.NoError(t, err)
		defer pool.Close()
		s := &Store{pool: pool, host: "db.example:5432", shards: 1}
		_, err = s.Count(ctx, "")
		return err
	}

	err := count(turnAwayServer(t, "XX000", "could not write init file"))
	require.Equal(t, failUnavailable, failureOf(err), "%v", err)
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)

	err = count(turnAwayServer(t, "53300", "sorry, too many clients already"))
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)

	for _, code := range []string{"28P01", "3D000"} {
		err = count(turnAwayServer(t, code, "refused"))
		require.True(t, refusedConnection(err), "%s: %v", code, err)
		require.Equal(t, failInternal, failureOf(err), "%s: waiting does not mend it: %v", code, err)
	}
}
