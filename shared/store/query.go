package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/logagg/logagg/shared/event"
)

// Events returns processed events matching f, newest first in f.Order.
// Only the conditions f sets are applied; f.After is the keyset cursor (pass
// the Position of a page's last event to get the next page), and a Limit of
// 0 or less means 100.
func (s *Store) Events(ctx context.Context, f event.Filter) ([]event.StoredEvent, error) {
	sql, args, limit := eventsQuery(f)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.classify(err, "listing events")
	}
	events := make([]event.StoredEvent, 0, min(limit, event.MaxListLimit))
	var (
		e       event.StoredEvent
		payload []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.Topic, &e.EventID, &e.Timestamp, &e.Source, &payload, &e.ProcessedAt}, func() error {
		e.Payload = payload
		e.Timestamp = e.Timestamp.UTC()
		e.ProcessedAt = e.ProcessedAt.UTC()
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, s.classify(err, "listing events")
	}
	return events, nil
}

// eventsQuery is the statement Events runs for f, its arguments, and the
// page size. plans_test.go explains each listing shape's plan with it.
//
// In processing order, a time window (Since, Until) is read through the
// indexes on "timestamp" and sorted: its cost grows with the events in the
// window, not with the store. Without a window, and in timestamp order, an
// index gives the rows in the listing's order and the scan stops after one
// page.
func eventsQuery(f event.Filter) (sql string, args []any, limit int) {
	var where []string
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Topic != "" {
		where = append(where, "topic = "+arg(f.Topic))
	}
	if f.Source != "" {
		where = append(where, "source = "+arg(f.Source))
	}
	if f.Since != nil {
		where = append(where, `"timestamp" >= `+arg(*f.Since))
	}
	if f.Until != nil {
		where = append(where, `"timestamp" < `+arg(*f.Until))
	}
	at := "processed_at"
	if f.Order == event.ByTimestamp {
		at = `"timestamp"`
	}
	if f.After != nil {
		where = append(where, "("+at+", id) < ("+arg(f.After.At)+", "+arg(f.After.ID)+")")
	}
	limit = pageSize(f.Limit)
	conds := ""
	if len(where) > 0 {
		conds = " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY " + at + " DESC, id DESC LIMIT " + arg(limit)

	if f.Order == event.ByProcessed && (f.Since != nil || f.Until != nil) {
		// The window's keys come from an index-only scan of a window index
		// (MATERIALIZED keeps the planner from walking (processed_at, id)
		// backwards in the hope of meeting the window soon: it cannot know
		// that the window lies in one corner of the table); the page's rows
		// are then fetched by (processed_at, id).
		return `WITH w AS MATERIALIZED (SELECT processed_at, id FROM processed_events` + conds + `),
page AS (SELECT processed_at, id FROM w` + order + `)
SELECT p.id, p.topic, p.event_id, p."timestamp", p.source, p.payload, p.processed_at
FROM page JOIN processed_events p ON p.processed_at = page.processed_at AND p.id = page.id
ORDER BY p.processed_at DESC, p.id DESC`, args, limit
	}
	return `SELECT id, topic, event_id, "timestamp", source, payload, processed_at FROM processed_events` + conds + order, args, limit
}

// Count returns how many distinct events of topic were processed; "" counts
// every topic. It reads the counters, which are exact.
func (s *Store) Count(ctx context.Context, topic string) (int64, error) {
	var n int64
	var err error
	if topic == "" {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(unique_processed), 0)::bigint FROM stats_shards`).Scan(&n)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(unique_count), 0)::bigint FROM topic_stats WHERE topic = $1`, topic).Scan(&n)
	}
	if err != nil {
		return 0, s.classify(err, "counting events")
	}
	return n, nil
}

// Stats returns the aggregate counters. They are read in one statement, so
// from one snapshot: Received == UniqueProcessed + DuplicateDropped holds at
// every read, even while batches commit.
func (s *Store) Stats(ctx context.Context) (event.Stats, error) {
	var st event.Stats
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(sum(received), 0)::bigint,
		       coalesce(sum(unique_processed), 0)::bigint,
		       coalesce(sum(duplicate_dropped), 0)::bigint,
		       coalesce(sum(payload_conflicts), 0)::bigint,
		       coalesce(sum(dead_lettered), 0)::bigint,
		       (SELECT count(DISTINCT topic) FROM topic_stats)
		FROM stats_shards`).
		Scan(&st.Received, &st.UniqueProcessed, &st.DuplicateDropped, &st.PayloadConflicts, &st.DeadLettered, &st.Topics)
	if err != nil {
		return event.Stats{}, s.classify(err, "reading the statistics")
	}
	return st, nil
}

// Topics returns the topics' counters that f selects, in f's order, at
// most f.Limit of them (100 when 0 or less).
func (s *Store) Topics(ctx context.Context, f event.TopicFilter) ([]event.TopicStats, error) {
	limit := pageSize(f.Limit)
	var rows pgx.Rows
	var err error
	switch f.Order {
	case event.ByRecent:
		var afterAt *time.Time
		afterTopic := ""
		if f.After != nil {
			afterTopic = f.After.Topic
			if !f.After.LastProcessedAt.IsZero() {
				afterAt = &f.After.LastProcessedAt
			}
		}
		rows, err = s.pool.Query(ctx, topicsByRecentSQL, f.Contains, f.After != nil, afterAt, afterTopic, limit)
	default:
		after := ""
		if f.After != nil {
			after = f.After.Topic
		}
		rows, err = s.pool.Query(ctx, topicsByNameSQL, f.Contains, after, limit)
	}
	if err != nil {
		return nil, s.classify(err, "listing topics")
	}
	topics := []event.TopicStats{}
	var (
		t    event.TopicStats
		last *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&t.Topic, &t.Unique, &t.Duplicates, &last}, func() error {
		t.LastProcessedAt = time.Time{}
		if last != nil {
			t.LastProcessedAt = last.UTC()
		}
		topics = append(topics, t)
		return nil
	})
	if err != nil {
		return nil, s.classify(err, "listing topics")
	}
	return topics, nil
}

// topicsByNameSQL walks topic_stats' primary key (topic, shard) from the
// cursor on. strpos of the empty string is 1, so an empty $1 keeps every
// topic. Both sides are lowered under the "C" collation, which folds ASCII
// letters only: the same folding whatever the database's locale.
const topicsByNameSQL = `
SELECT topic, sum(unique_count)::bigint, sum(duplicate_count)::bigint, max(last_processed_at)
FROM topic_stats
WHERE strpos(lower(topic), lower($1 COLLATE "C")) > 0 AND topic > $2
GROUP BY topic
ORDER BY topic
LIMIT $3`

// topicsByRecentSQL sums every topic before sorting: topic_stats holds a few
// rows per topic, not per event. Topics that never got a new row sort last
// (-infinity); among equal times, by name.
const topicsByRecentSQL = `
WITH t AS (
	SELECT topic, sum(unique_count)::bigint AS uniq, sum(duplicate_count)::bigint AS dups,
		max(last_processed_at) AS last, coalesce(max(last_processed_at), '-infinity') AS sort_at
	FROM topic_stats
	WHERE strpos(lower(topic), lower($1 COLLATE "C")) > 0
	GROUP BY topic
)
SELECT topic, uniq, dups, last FROM t
WHERE NOT $2::boolean
	OR sort_at < coalesce($3::timestamptz, '-infinity')
	OR (sort_at = coalesce($3::timestamptz, '-infinity') AND topic > $4::text)
ORDER BY sort_at DESC, topic
LIMIT $5`

// pageSize is the rows a listing asked for limit returns at most.
func pageSize(limit int) int {
	if limit <= 0 {
		return event.DefaultListLimit
	}
	return limit
}
