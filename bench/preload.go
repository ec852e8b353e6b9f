package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/shared/store"
)

// The preloaded events' shape: as many topics and sources as a busy
// deployment might have, one event a second (preloadSQL), each processed a
// few seconds after its timestamp.
const (
	preloadTopics   = 50
	preloadSources  = 20
	preloadChunk    = 1_000_000       // rows per INSERT
	preloadLagMin   = 3 * time.Second // processed_at - timestamp, from …
	preloadLagRange = 2 * time.Second // … to preloadLagMin + this
	// preloadEndsBefore is how long before the database's now() the last
	// preloaded event is processed.
	preloadEndsBefore = 10 * time.Second
	preloadMsgBytes   = 80 // of the payload's "msg"; the whole payload is about 120 bytes
	// The preloaded topics and sources are these and a number.
	preloadTopicPrefix  = "growth.topic-"
	preloadSourcePrefix = "growth-source-"
)

// preloaded is what preload put into a database.
type preloaded struct {
	events int
	// first and last are the preloaded events' timestamps: the history that
	// the read shapes' windows are placed in.
	first, last time.Time
	seconds     float64 // the inserts, key index and vacuum of event_keys
}

// preloadSQL inserts the events $1 to $2 of $3 and their keys, and counts
// them, in one statement. Event i's timestamp is $4 - ($3 - i) seconds and
// it was processed $8 to $8 + $9 seconds later; its topic is $11 and one of
// $6 numbers, its source $12 and one of $7, at random; its payload's "msg" is $10 bytes of $5.
// The generated rows are MATERIALIZED, so that both tables get the same
// id, key and processed_at.
const preloadSQL = `
WITH g AS MATERIALIZED (
	SELECT nextval('processed_events_id_seq') AS id, i,
		$11 || lpad(floor(random() * $6::int)::int::text, 2, '0') AS topic,
		md5(i::text) AS event_id,
		ts,
		$12 || lpad(floor(random() * $7::int)::int::text, 2, '0') AS source,
		ts + make_interval(secs => $8::float8 + random() * $9::float8) AS processed_at
	FROM generate_series($1::bigint, $2::bigint) AS i,
		LATERAL (SELECT $4::timestamptz - make_interval(secs => $3::bigint - i)) AS t(ts)
), keys AS (
	INSERT INTO event_keys (topic, event_id, id, processed_at)
	SELECT topic, event_id, id, processed_at FROM g
), topics AS (
	INSERT INTO topic_stats AS t (topic, shard, unique_count, last_processed_at)
	SELECT topic, 0, count(*), max(processed_at) FROM g GROUP BY topic
	ON CONFLICT (topic, shard) DO UPDATE SET unique_count = t.unique_count + excluded.unique_count,
		last_processed_at = greatest(t.last_processed_at, excluded.last_processed_at)
), totals AS (
	UPDATE stats_shards SET received = received + ($2 - $1 + 1), unique_processed = unique_processed + ($2 - $1 + 1)
	WHERE shard = 0
)
INSERT INTO processed_events (id, topic, event_id, "timestamp", source, payload, message_id, processed_at)
SELECT id, topic, event_id, ts, source,
	jsonb_build_object('seq', i, 'level', (ARRAY['debug', 'info', 'info', 'info', 'warn', 'error'])[1 + i % 6],
		'msg', substr($5, 1 + (i % 997)::int, $10::int)),
	'preload-' || (i / 100)::text, processed_at
FROM g`

// preloadPad is the text payloads take their "msg" from: random letters,
// the same every run.
func preloadPad() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 "
	rng := rand.New(rand.NewPCG(12, 0x67726f77))
	b := make([]byte, 997+preloadMsgBytes)
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

// preload puts n events, chunk per statement, into the database at databaseURL, which st has
// opened (and so migrated), the way the consumers would have stored them
// over the last n seconds: rows in processed_events and event_keys with the
// same id and processed_at, and the counters to match. It creates the past
// partitions first. The keys' primary key is built once, after the rows,
// as the migration builds it: far quicker than n random inserts, and
// denser than the index those would leave (see bench/README.md).
func preload(ctx context.Context, st *store.Store, databaseURL string, n, chunk int, progress io.Writer) (preloaded, error) {
	var p preloaded
	if n == 0 {
		return p, nil
	}
	started := time.Now()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return p, err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return p, err
	}
	p.events = n
	p.last = now.Add(-preloadEndsBefore - preloadLagMin - preloadLagRange).UTC().Truncate(time.Microsecond)
	p.first = p.last.Add(-time.Duration(n-1) * time.Second)
	if err := st.EnsurePartitions(ctx, p.first, now); err != nil {
		return p, fmt.Errorf("creating the past partitions: %w", err)
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE event_keys DROP CONSTRAINT event_keys_pkey`); err != nil {
		return p, err
	}
	if _, err := conn.Exec(ctx, `SELECT setseed(0.42)`); err != nil {
		return p, err
	}
	pad := preloadPad()
	for from := 1; from <= n; from += chunk {
		to := min(from+chunk-1, n)
		if _, err := conn.Exec(ctx, preloadSQL, from, to, n, p.last, pad, preloadTopics, preloadSources,
			preloadLagMin.Seconds(), preloadLagRange.Seconds(), preloadMsgBytes, preloadTopicPrefix, preloadSourcePrefix); err != nil {
			return p, fmt.Errorf("preloading events %d to %d: %w", from, to, err)
		}
		fmt.Fprintf(progress, "bench: preloaded %s of %s events (%.0fs)\n",
			thousands(float64(to)), thousands(float64(n)), time.Since(started).Seconds())
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE event_keys ADD CONSTRAINT event_keys_pkey PRIMARY KEY (topic, event_id)`); err != nil {
		return p, fmt.Errorf("building the keys' primary key: %w", err)
	}
	// As autovacuum would have by now on a store that grew over months.
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) event_keys`); err != nil {
		return p, err
	}
	p.seconds = time.Since(started).Seconds()
	return p, nil
}
