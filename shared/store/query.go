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
// page size. plans_test.go explains every listing shape with it, on a store
// large enough for the planner to face the real choices, and prints each
// plan's indexes and time.
//
// The partitions whose range is over have an index for every listing; the
// partition still taking rows has only those on processed_at and a BRIN
// index on "timestamp" (see windowIndexes). The forms below read the closed
// partitions through their indexes, a page at a time, in either order, and
// the partition taking rows as little as its indexes allow.
//
// The page size is written into the statement, not passed: a generic plan
// (which PostgreSQL may choose for pgx's prepared statement after five
// runs) would take LIMIT $n for a tenth of the rows, and sort or hash
// where it should walk an index. Page sizes take few values in practice,
// each a statement of its own.
func eventsQuery(f event.Filter) (sql string, args []any, limit int) {
	limit = pageSize(f.Limit)
	n := strconv.Itoa(limit)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var topic, source, since, until, afterAt, afterID string
	if f.Topic != "" {
		topic = arg(f.Topic)
	}
	if f.Source != "" {
		source = arg(f.Source)
	}
	if f.Since != nil {
		since = arg(*f.Since)
	}
	if f.Until != nil {
		until = arg(*f.Until)
	}
	if f.After != nil {
		afterAt, afterID = arg(f.After.At), arg(f.After.ID)
	}
	at := "processed_at"
	if f.Order == event.ByTimestamp {
		at = `"timestamp"`
	}

	// where is the listing's conditions, the cursor's if cursor, and more.
	// With leading, the topic (or else the source) is
	// matched with = ANY of a one-element array and leads the order, which
	// then only the index that begins with it can give: given topic = $1,
	// the planner drops topic from the order (it is one value) and may walk
	// the (processed_at, id) index backwards, filtering — cheap for a topic
	// that is everywhere, a scan of the store for one that is rare or quiet
	// of late, and chosen for every topic alike by a generic plan, which
	// knows no topic's share. The price is a Merge Append, which enters
	// every partition's index once. leading is for processing order only,
	// where every partition has the index, and without conditions on
	// "timestamp": a window index, which begins with the topic too, would
	// then look cheaper to a planner that takes the topic for one group of
	// many, and be followed by a sort of all the topic's events.
	where := func(leading, cursor bool, more ...string) (conds, lead string) {
		var c []string
		switch {
		case topic != "" && leading:
			c, lead = append(c, "topic = ANY(ARRAY["+topic+"])"), "topic DESC, "
		case topic != "":
			c = append(c, "topic = "+topic)
		}
		switch {
		case source != "" && leading && lead == "":
			c, lead = append(c, "source = ANY(ARRAY["+source+"])"), "source DESC, "
		case source != "":
			c = append(c, "source = "+source)
		}
		if since != "" {
			c = append(c, `"timestamp" >= `+since)
		}
		if until != "" {
			c = append(c, `"timestamp" < `+until)
		}
		if cursor && afterAt != "" {
			// The plain bound says nothing the row comparison does not,
			// but partition pruning (processed_at) and the BRIN index
			// ("timestamp") can use it.
			c = append(c, at+" <= "+afterAt, "("+at+", id) < ("+afterAt+", "+afterID+")")
		}
		c = append(c, more...)
		if len(c) == 0 {
			return "", lead
		}
		return " WHERE " + strings.Join(c, " AND "), lead
	}
	// byProcessed is a page of size in processing order, read whole from
	// the indexes that every partition has: the newest partitions first,
	// and the scan stops after the page.
	byProcessed := func(conds, lead, size string) string {
		return `SELECT id, topic, event_id, "timestamp", source, payload, processed_at FROM processed_events` + conds +
			` ORDER BY ` + lead + `processed_at DESC, id DESC LIMIT ` + size
	}
	// fetch gives the rows of the keys in page, in the listing's order, by
	// (processed_at, id).
	fetch := func(order string) string {
		return `
SELECT p.id, p.topic, p.event_id, p."timestamp", p.source, p.payload, p.processed_at
FROM page JOIN processed_events p ON p.processed_at = page.processed_at AND p.id = page.id
ORDER BY ` + order
	}

	switch {
	case f.Order == event.ByProcessed && since == "" && until == "":
		conds, lead := where(true, true)
		return byProcessed(conds, lead, n), args, limit

	case since != "" || until != "":
		// A window's page comes from its keys alone, and only the page's
		// rows are then fetched. In timestamp order, the closed partitions
		// give the keys in order from an index-only scan of a window index;
		// the partition taking rows has no index in this order, and its
		// events in the window are found through the BRIN index on
		// "timestamp" and sorted. In processing order, which of the
		// window's events were processed last nothing but the whole window
		// tells: its keys come from an index-only scan of a window index
		// (through BRIN in the partition taking rows) and a top-N sort in
		// memory. OFFSET 0 plans that scan apart from the order, which
		// keeps the planner from walking (processed_at, id) backwards in
		// the hope of meeting the window soon. (Materializing the window's
		// keys did that too, at the price of writing them all to a
		// tuplestore: a one-day window, 86,400 events, took 51 ms that way
		// against 32 ms sorted on processed_at + interval '0', and 26 to
		// 29 ms like this.) The cost grows with the events in the window,
		// not with the store.
		//
		// A window longer than twice windowProbe (see windowFloor) has a
		// floor that its page cannot reach below: the n-th latest, in the
		// listing's order, of the events of its last windowProbe (below the
		// cursor), as those n alone would fill it. What lies under it is
		// dropped as it is read, and partitions that ended before it are
		// not read at all. When the probe finds fewer, the floor is the
		// window's start in timestamp order, and none in processing order.
		// In timestamp order a day's window then reads an hour of it where
		// events are dense, as logs are; in processing order it still reads
		// the whole window, but sorts few, as log lines are processed soon
		// after they happen. A one-day window at 20 million events, in
		// processing order: 25 ms before, 18 ms with the floor, and in the
		// partition taking rows 47 ms before, 20 ms with it (pgbench, 2
		// cores).
		keys, order := `"timestamp", id, processed_at`, `page."timestamp" DESC, page.id DESC`
		from := func(conds string) string { return ` FROM processed_events` + conds }
		floorIfNone := `'-infinity'::timestamptz`
		if f.Order == event.ByProcessed {
			keys, order = `processed_at, id`, `p.processed_at DESC, p.id DESC`
			from = func(conds string) string {
				return ` FROM (SELECT processed_at, id FROM processed_events` + conds + ` OFFSET 0) w`
			}
		} else if since != "" {
			floorIfNone = since + `::timestamptz`
		}
		sorted := "\n\tORDER BY " + at + " DESC, id DESC"
		top, ok := windowFloor(f)
		if !ok {
			conds, _ := where(false, true)
			return `WITH page AS MATERIALIZED (SELECT ` + keys + from(conds) + sorted + ` LIMIT ` + n + `)` +
				fetch(order), args, limit
		}
		probeConds, _ := where(false, true, `"timestamp" >= `+arg(top.Add(-windowProbe)))
		conds, _ := where(false, true, at+` >= (SELECT at FROM floor)`)
		return `WITH floor AS (SELECT coalesce((SELECT ` + at + from(probeConds) + sorted + ` OFFSET ` + strconv.Itoa(limit-1) + ` LIMIT 1), ` + floorIfNone + `) AS at),
page AS MATERIALIZED (SELECT ` + keys + from(conds) + sorted + ` LIMIT ` + n + `)` +
			fetch(order), args, limit

	default:
		// The same, without a window: what the partition taking rows must
		// sort is bounded by a floor that the page cannot go under, the
		// page's worth of newest timestamps among two pages of events that
		// match (recent), taken in processing order from the cursor's time
		// back. A page of events lie at or above it. Events are usually
		// processed soon after they happen, so the floor is close to the
		// page, and the BRIN index finds what lies above it in a few
		// ranges; when they are not, the listing is still right, only
		// slower, and an event processed long after it happened (or whose
		// clock is far behind) does not pull the floor down alone. recent
		// knows the cursor by processed_at only, to read in processing
		// order (see where): the cursor itself is applied to what it found,
		// and fewer than a page meeting it make the floor -infinity.
		var bound []string
		below := ""
		if afterAt != "" {
			bound = append(bound, "processed_at <= "+afterAt)
			below = ` WHERE ("timestamp", id) < (` + afterAt + `, ` + afterID + `)`
		}
		recentConds, lead := where(true, false, bound...)
		conds, _ := where(false, true, `"timestamp" >= (SELECT at FROM floor)`)
		return `WITH recent AS MATERIALIZED (` + byProcessed(recentConds, lead, strconv.Itoa(2*limit)) + `),
floor AS (SELECT coalesce((SELECT "timestamp" FROM recent` + below + `
	ORDER BY "timestamp" DESC OFFSET ` + strconv.Itoa(limit-1) + ` LIMIT 1), '-infinity') AS at),
page AS MATERIALIZED (SELECT "timestamp", id, processed_at FROM processed_events` + conds + `
	ORDER BY "timestamp" DESC, id DESC LIMIT ` + n + `)` +
			fetch(`page."timestamp" DESC, page.id DESC`), args, limit
	}
}

// windowProbe is how much of a window's end a listing reads first to find
// a floor for its page (see eventsQuery); windows less than twice as long
// are read whole.
const windowProbe = time.Hour

// windowFloor says whether a listing with a window finds a floor for its
// page (see eventsQuery), and below which time it probes the last
// windowProbe: the cursor's time, or else the window's end, when the window
// is longer than twice windowProbe. In timestamp order nothing above top
// can be listed; in processing order the cursor's time is a processed_at,
// which stands for the timestamps of the events just below the cursor
// (events are processed soon after they happen): the floor is right
// whatever the probe finds, and only slower when it finds little.
func windowFloor(f event.Filter) (top time.Time, ok bool) {
	switch {
	case f.After != nil:
		top = f.After.At
	case f.Until != nil:
		top = *f.Until
	default:
		return time.Time{}, false
	}
	return top, f.Since == nil || f.Since.Before(top.Add(-2*windowProbe))
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
