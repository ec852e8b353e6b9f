package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
)

// testTime is the timestamp of the events tests build.
var testTime = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// newStore opens a Store on a database of the test's own.
func newStore(t testing.TB) *Store {
	t.Helper()
	// Daily partitions: the tests of partitions and retention count in days.
	s, err := Open(context.Background(), testenv.NewDatabase(t), Options{PartitionInterval: 24 * time.Hour})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// ev builds a valid event.
func ev(topic, id, payload string) event.Event {
	return event.Event{Topic: topic, EventID: id, Timestamp: testTime, Source: "test-source", Payload: json.RawMessage(payload)}
}

// rec wraps events in a record, as one queue message.
func rec(messageID string, events ...event.Event) event.Record {
	body, _ := json.Marshal(events)
	return event.Record{MessageID: messageID, Events: events, Body: body}
}

// counts is r without the conflicts and dead letters it names.
func counts(r event.BatchResult) event.BatchResult {
	r.Conflicted, r.DeadLetters = nil, nil
	return r
}

// requireStats checks the aggregate counters, and that they add up.
func requireStats(t testing.TB, s *Store, want event.Stats) {
	t.Helper()
	got, err := s.Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, got.Received, got.UniqueProcessed+got.DuplicateDropped)
}

// rowCount counts the rows of a table.
func rowCount(t testing.TB, s *Store, table string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.pool.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s", table)).Scan(&n))
	return n
}
