package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Aged is what SeedAged put into a database: records of every kind that a
// maintenance pass forgets, all processed, dropped, dead-lettered or
// consumed Age ago.
type Aged struct {
	Age       time.Duration
	Partition string // the partition of processed_events that holds the events
	Events    int    // events in it, each with its key in event_keys
	// One row each in duplicate_events, dead_letters and consumed_messages.
}

// SeedAged adds to the migrated database at databaseURL a partition of
// processed_events an hour long that ended age ago, holding events events
// (analysed, so that PostgreSQL's estimate of its rows is exact) and their
// keys, and one duplicate audit row, one dead letter and one ledger entry
// from age ago.
func SeedAged(t testing.TB, databaseURL string, age time.Duration, events int) Aged {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatalf("testenv: connect to seed aged records: %v", err)
	}
	defer conn.Close(ctx)

	to := time.Now().Add(-age).UTC().Truncate(time.Hour)
	from := to.Add(-time.Hour)
	at := from.Add(30 * time.Minute)
	a := Aged{Age: age, Partition: "processed_events_" + from.Format("20060102_1504"), Events: events}
	table := pgx.Identifier{a.Partition}.Sanitize()
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{fmt.Sprintf(`CREATE TABLE %s PARTITION OF processed_events FOR VALUES FROM ('%s') TO ('%s')`,
			table, from.Format(time.RFC3339), to.Format(time.RFC3339)), nil},
		{`WITH stored AS (
			INSERT INTO processed_events (topic, event_id, "timestamp", source, payload, message_id, processed_at)
			SELECT 'aged', 'evt-' || n, $1, 'testenv', '{}', 'msg-aged', $1
			FROM generate_series(1, $2::int) AS n
			RETURNING topic, event_id, id, processed_at)
		INSERT INTO event_keys (topic, event_id, id, processed_at) SELECT * FROM stored`, []any{at, events}},
		{`ANALYZE ` + table, nil},
		{`INSERT INTO duplicate_events (topic, event_id, message_id, source, payload_matches, dropped_at)
			VALUES ('aged', 'evt-1', 'msg-aged-again', 'testenv', true, $1)`, []any{at}},
		{`INSERT INTO dead_letters (message_id, body, reason, events, created_at)
			VALUES ('msg-aged-dead', 'not JSON', 'seeded', 1, $1)`, []any{at}},
		{`INSERT INTO consumed_messages (message_id, consumed_at) VALUES ('msg-aged-again', $1)`, []any{at}},
	} {
		if _, err := conn.Exec(ctx, step.sql, step.args...); err != nil {
			t.Fatalf("testenv: seed aged records: %v\n%s", err, step.sql)
		}
	}
	return a
}
