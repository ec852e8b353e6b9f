package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/store"
)

// The preload stores events as the consumers would have: each in
// processed_events and event_keys under one id and processed_at, the
// counters matching, one a second, processed a few seconds later; and a
// maintenance pass closes the past partitions it filled.
func TestPreloadStoresEventsAsConsumersWould(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := testenv.NewDatabase(t)
	st, err := store.Open(ctx, dbURL, store.Options{PartitionInterval: time.Hour})
	require.NoError(t, err)
	defer st.Close()

	const n = 9000 // two and a half hours of events: three chunks, three or four partitions
	p, err := preload(ctx, st, dbURL, n, 4000, io.Discard)
	require.NoError(t, err)
	require.Equal(t, n, p.events)
	require.Equal(t, time.Duration(n-1)*time.Second, p.last.Sub(p.first))

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)

	var events, keys, matched, topics, sources, distinctIDs int64
	var first, last time.Time
	var lagMin, lagMax, payloadAvg float64
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM processed_events), (SELECT count(*) FROM event_keys),
			(SELECT count(*) FROM processed_events p JOIN event_keys k USING (topic, event_id, id, processed_at)),
			(SELECT count(DISTINCT topic) FROM processed_events), (SELECT count(DISTINCT source) FROM processed_events),
			(SELECT count(DISTINCT id) FROM processed_events),
			(SELECT min("timestamp") FROM processed_events), (SELECT max("timestamp") FROM processed_events),
			(SELECT extract(epoch FROM min(processed_at - "timestamp"))::float8 FROM processed_events),
			(SELECT extract(epoch FROM max(processed_at - "timestamp"))::float8 FROM processed_events),
			(SELECT avg(octet_length(payload::text))::float8 FROM processed_events)`).
		Scan(&events, &keys, &matched, &topics, &sources, &distinctIDs, &first, &last, &lagMin, &lagMax, &payloadAvg))
	require.Equal(t, int64(n), events)
	require.Equal(t, int64(n), keys)
	require.Equal(t, int64(n), matched, "every event's key row has its id and processed_at")
	require.Equal(t, int64(n), distinctIDs)
	require.Equal(t, int64(preloadTopics), topics)
	require.Equal(t, int64(preloadSources), sources)
	require.True(t, first.Equal(p.first), "first %s, want %s", first, p.first)
	require.True(t, last.Equal(p.last), "last %s, want %s", last, p.last)
	require.GreaterOrEqual(t, lagMin, preloadLagMin.Seconds())
	require.LessOrEqual(t, lagMax, (preloadLagMin + preloadLagRange).Seconds())
	require.InDelta(t, 120, payloadAvg, 15, "payloads of about 120 bytes")

	var received, unique, topicSum, nextID, maxID int64
	require.NoError(t, conn.QueryRow(ctx, `
		SELECT (SELECT sum(received) FROM stats_shards)::bigint, (SELECT sum(unique_processed) FROM stats_shards)::bigint,
			(SELECT sum(unique_count) FROM topic_stats)::bigint, nextval('processed_events_id_seq'),
			(SELECT max(id) FROM processed_events)`).Scan(&received, &unique, &topicSum, &nextID, &maxID))
	require.Equal(t, int64(n), received)
	require.Equal(t, int64(n), unique)
	require.Equal(t, int64(n), topicSum)
	require.Greater(t, nextID, maxID, "the consumers' ids continue after the preloaded ones")

	var pkey string
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'event_keys_pkey'`).Scan(&pkey))
	require.Equal(t, "PRIMARY KEY (topic, event_id)", pkey)

	m, err := st.Maintain(ctx, store.Policy{})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(m.Closed), 2, "the past hours' partitions are closed")

	d, err := measureDisk(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, int64(n), d.Events)
	require.Greater(t, d.EventsTableBytes, int64(n*120), "the rows are in the partitions")
	require.Greater(t, d.KeysIndexBytes, int64(0))
	require.Equal(t, d.EventsTableBytes+d.EventsIndexBytes+d.KeysTableBytes+d.KeysIndexBytes, d.TotalBytes)
	require.InDelta(t, float64(d.TotalBytes)/n, float64(d.BytesPerEvent), 0.01)

	pl, err := measurePlanning(ctx, conn)
	require.NoError(t, err)
	require.Equal(t, d.Partitions, pl.Partitions)
	require.Greater(t, float64(pl.FirstPageMs), 0.0)
}

func TestPreloadOfNothingLeavesTheDatabaseAlone(t *testing.T) {
	t.Parallel()
	p, err := preload(context.Background(), nil, "postgres://nowhere.invalid/x", 0, preloadChunk, io.Discard)
	require.NoError(t, err)
	require.Zero(t, p.events)
}
