package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
)

// The plan tests explain every listing shape, as Events builds it, on a
// store large enough that the planner has a real choice to make between
// the indexes, and fail on a plan that reads the store rather than the
// page: a sequential scan, or a node that throws away more than ten pages'
// worth of rows. They print each plan's indexes and times (go test -v), for
// the README to quote.
//
// The partition still taking rows has no index on "timestamp" but a BRIN
// index (see windowIndexes), which finds ranges of 128 pages, and none of
// the pages added since autovacuum last summarized it: a listing that reads
// that partition by "timestamp" rechecks up to that many rows
// (currentAllowance). That is the weak spot the test measures and bounds
// rather than forbids.
const (
	// planPastEvents are spread evenly over planPastDays daily partitions
	// that ended before yesterday, so that Maintain has closed them
	// whatever the time of day the test runs at.
	planPastEvents = 1_000_000
	planPastDays   = 29
	// planCurrentEvents, as many as a past day holds, are spread over the
	// whole day of the partition still taking rows, partly ahead of now:
	// where they lie in the day does not change the plans, and so the
	// partition holds a day's events whatever the time the test runs at.
	planCurrentEvents = planPastEvents / planPastDays
	// planUnvacuumed of them came in after autovacuum's last pass over the
	// current partition.
	planUnvacuumed = planCurrentEvents / 10
	planTopics     = 50
	// planSources send unevenly, as services do: source-0 about 22% of the
	// events, source-19 (planQuietSource) about 1.3%.
	planSources     = 20
	planQuietSource = "source-19"
	// planTopic is the topic of the shapes with a topic, and of the
	// outliers: events whose timestamp is far from when they were
	// processed, from year 1 to year 9999, in a past partition and among
	// the newest of the current one.
	planTopic = "topic-7"
	// planPage is the 50th page of a topic.
	planPage = 50
	// brinRange is the pages a BRIN index summarizes together.
	brinRange = 128
)

// planOutliers are the timestamps of the outliers, as SQL expressions of
// their processing time, at.
var planOutliers = []string{"'9999-12-31 23:59:59Z'", "'0001-01-01 00:00:00Z'", "at + interval '400 days'", "at - interval '400 days'"}

// planStore is the populated store the plan tests share, and when its
// events were processed.
type planStore struct {
	s   *Store
	url string
	// pastFrom and pastTo bound the processing (and, within seconds, the
	// event) times of the past events; today is when the current
	// partition begins, a day before it ends.
	pastFrom, pastTo, today, now time.Time
	// partitions tells a partition's role from its name.
	partitions map[string]string
	// currentAllowance is how many rows a bitmap scan of the current
	// partition may throw away: the rows of the BRIN index's ranges that
	// autovacuum left unsummarized (every page since its last pass, and
	// the range it was filling then), and of the two ranges at the ends of
	// a window.
	currentAllowance float64
}

// populatePlanStore builds the store: the rows go in with one INSERT … SELECT
// generate_series per table, the ids and processed_at of a row being the
// same in processed_events and event_keys, as Consume writes them. Then
// Maintain closes the past partitions (vacuum, analyze, window indexes)
// and the whole store is analyzed.
func populatePlanStore(t *testing.T) planStore {
	t.Helper()
	ctx := context.Background()
	url := testenv.NewDatabase(t)
	s, err := Open(ctx, url, Options{PartitionInterval: 24 * time.Hour})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	p := planStore{s: s, url: url}
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT now()`).Scan(&p.now))
	p.now = p.now.UTC()
	p.today = p.now.Truncate(24 * time.Hour)
	p.pastTo = p.today.Add(-24 * time.Hour)
	p.pastFrom = p.pastTo.Add(-planPastDays * 24 * time.Hour)
	require.NoError(t, s.EnsurePartitions(ctx, p.pastFrom, p.pastTo))
	current := pgx.Identifier{partitionName(p.today)}.Sanitize()

	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	// The same rows on every run: random() follows setseed in this session.
	_, err = conn.Exec(ctx, `SELECT setseed(0.12)`)
	require.NoError(t, err)
	// Autovacuum must not change the current partition under the test.
	_, err = conn.Exec(ctx, `ALTER TABLE `+current+` SET (autovacuum_enabled = false)`)
	require.NoError(t, err)
	// n events with ids from id on, processed evenly over [from, to): each
	// happened up to 3 seconds before it was processed, and carries about
	// 120 bytes of JSON.
	insert := func(id int64, from, to time.Time, n int) {
		_, err := conn.Exec(ctx, `
INSERT INTO processed_events (id, topic, event_id, "timestamp", source, payload, message_id, processed_at)
SELECT id, 'topic-' || floor(random() * $5)::int, 'evt-' || id,
	at - random() * interval '3 seconds', 'source-' || floor(random() ^ 2 * $6)::int,
	jsonb_build_object('message', 'GET /api/items/' || id || ' answered 200 in ' || floor(random() * 900)::int || ' ms',
		'level', 'info', 'request_id', md5(id::text)),
	'msg-' || id / 500, at
FROM (SELECT $1::bigint + i AS id, $2::timestamptz + i * ($3::timestamptz - $2::timestamptz) / $4 AS at
	FROM generate_series(0, $4 - 1) AS i) AS g`, id, from, to, n, planTopics, planSources)
		require.NoError(t, err)
	}
	insert(1, p.pastFrom, p.pastTo, planPastEvents)
	day := p.today.Add(24 * time.Hour)
	vacuumedTo := p.today.Add(24 * time.Hour * (planCurrentEvents - planUnvacuumed) / planCurrentEvents)
	insert(planPastEvents+1, p.today, vacuumedTo, planCurrentEvents-planUnvacuumed)
	_, err = conn.Exec(ctx, `VACUUM `+current)
	require.NoError(t, err)
	insert(planPastEvents+1+planCurrentEvents-planUnvacuumed, vacuumedTo, day, planUnvacuumed)
	id := int64(planPastEvents + planCurrentEvents)
	for _, at := range []time.Time{p.pastFrom.Add(10*24*time.Hour + 12*time.Hour), day.Add(-time.Second)} {
		for i, ts := range planOutliers {
			id++
			_, err = conn.Exec(ctx, `
INSERT INTO processed_events (id, topic, event_id, "timestamp", source, payload, message_id, processed_at)
SELECT $1::bigint, $2, 'outlier-' || $1::bigint, `+ts+`, $3, '{"outlier": true}', 'msg-outliers', at
FROM (SELECT $4::timestamptz AS at) AS o`, id, planTopic, planQuietSource, at.Add(time.Duration(i)*time.Millisecond))
			require.NoError(t, err)
		}
	}
	_, err = conn.Exec(ctx, `SELECT setval('processed_events_id_seq', $1)`, id)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO event_keys (topic, event_id, id, processed_at) SELECT topic, event_id, id, processed_at FROM processed_events`)
	require.NoError(t, err)

	m, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)
	require.Len(t, m.Closed, planPastDays, "every past partition closed")
	_, err = conn.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)

	var rowsPerPage float64
	require.NoError(t, conn.QueryRow(ctx, `SELECT reltuples / relpages FROM pg_class WHERE oid = $1::regclass`, current).Scan(&rowsPerPage))
	p.currentAllowance = planUnvacuumed + 3*brinRange*rowsPerPage

	parts, err := partitions(ctx, s.pool)
	require.NoError(t, err)
	p.partitions = map[string]string{}
	for _, part := range parts {
		switch {
		case slices.Contains(m.Closed, part.name):
			p.partitions[part.name] = "<closed>"
		case part.from.Equal(p.today):
			p.partitions[part.name] = "<current>"
		default:
			p.partitions[part.name] = "<ahead>"
			var rows int64
			require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{part.name}.Sanitize()).Scan(&rows))
			require.Zero(t, rows, "%s is ahead of now", part.name)
		}
	}
	return p
}

// planShape is one listing shape; filter builds its filter in an order.
type planShape struct {
	name   string
	filter func(o event.Order) event.Filter
}

func TestPlansOfEveryListingShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	p := populatePlanStore(t)
	t.Logf("%d + %d events stored, partitions closed, store analyzed in %s", planPastEvents, planCurrentEvents, time.Since(start).Round(time.Second))

	// within is f limited to the events that happened in [from, from+d).
	within := func(f event.Filter, from time.Time, d time.Duration) event.Filter {
		to := from.Add(d)
		f.Since, f.Until = &from, &to
		return f
	}
	hourPast := p.pastFrom.Add(14*24*time.Hour + 10*time.Hour)
	dayPast := p.pastFrom.Add(20*24*time.Hour + 12*time.Hour) // across two partitions
	hourNow := p.today.Add(12 * time.Hour)
	topic, source := planTopic, planQuietSource
	shapes := []planShape{
		{"first page", func(o event.Order) event.Filter { return event.Filter{} }},
		{"topic", func(o event.Order) event.Filter { return event.Filter{Topic: topic} }},
		{"source", func(o event.Order) event.Filter { return event.Filter{Source: source} }},
		{"hour in history", func(o event.Order) event.Filter { return within(event.Filter{}, hourPast, time.Hour) }},
		{"day in history", func(o event.Order) event.Filter { return within(event.Filter{}, dayPast, 24*time.Hour) }},
		{"hour today", func(o event.Order) event.Filter { return within(event.Filter{}, hourNow, time.Hour) }},
		{"topic, hour in history", func(o event.Order) event.Filter {
			return within(event.Filter{Topic: topic}, hourPast, time.Hour)
		}},
		{"source, hour in history", func(o event.Order) event.Filter {
			return within(event.Filter{Source: source}, hourPast, time.Hour)
		}},
		{"topic, hour today", func(o event.Order) event.Filter {
			return within(event.Filter{Topic: topic}, hourNow, time.Hour)
		}},
		{"source, hour today", func(o event.Order) event.Filter {
			return within(event.Filter{Source: source}, hourNow, time.Hour)
		}},
		{fmt.Sprintf("topic, page %d", planPage), func(o event.Order) event.Filter {
			after := p.pageStart(t, topic, o, planPage)
			return event.Filter{Topic: topic, After: &after}
		}},
	}

	conn, err := pgx.Connect(ctx, p.url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	// The subtests run one after another on one connection: their times
	// are printed, and two plans run at once on two cores would skew them.
	statement := 0
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			for _, order := range []event.Order{event.ByProcessed, event.ByTimestamp} {
				f := shape.filter(order)
				f.Order = order
				t.Run(order.String(), func(t *testing.T) {
					t.Run("events", func(t *testing.T) { p.requireListing(t, f) })
					for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
						statement++
						t.Run(strings.TrimSuffix(strings.TrimPrefix(mode, "force_"), "_plan"), func(t *testing.T) {
							p.requireListingPlan(t, conn, mode, "listing_"+strconv.Itoa(statement), f)
						})
					}
				})
			}
		})
	}
}

// requireListing checks that Events gives f's first two pages as a plain
// sort of the matching events does: the statements above are chosen for
// their plans, and must not change what is listed.
func (p planStore) requireListing(t *testing.T, f event.Filter) {
	t.Helper()
	ctx := context.Background()
	at := "processed_at"
	if f.Order == event.ByTimestamp {
		at = `"timestamp"`
	}
	var after *time.Time
	var afterID int64
	if f.After != nil {
		after, afterID = &f.After.At, f.After.ID
	}
	limit := pageSize(f.Limit)
	rows, err := p.s.pool.Query(ctx, `
SELECT id FROM processed_events
WHERE ($1 = '' OR topic = $1) AND ($2 = '' OR source = $2)
	AND ($3::timestamptz IS NULL OR "timestamp" >= $3) AND ($4::timestamptz IS NULL OR "timestamp" < $4)
	AND ($5::timestamptz IS NULL OR (`+at+`, id) < ($5, $6))
ORDER BY `+at+` DESC, id DESC LIMIT $7`, f.Topic, f.Source, f.Since, f.Until, after, afterID, 2*limit)
	require.NoError(t, err)
	want, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.NotEmpty(t, want)

	var got []int64
	for range 2 {
		page, err := p.s.Events(ctx, f)
		require.NoError(t, err)
		for _, e := range page {
			got = append(got, e.ID)
		}
		if len(page) < limit {
			break
		}
		last := page[len(page)-1].Position(f.Order)
		f.After = &last
	}
	require.Equal(t, want, got)
}

// requireListingPlan explains f's listing and fails on a sequential scan
// or on a node that throws away more than ten pages of rows, but for a
// bitmap scan of the current partition, which may throw away
// currentAllowance rows, and for a long window in processing
// order, whose nodes may filter out the window's events (below the
// cursor): the page is the latest processed of them all, so they are all
// read whatever the plan, and the floor (see eventsQuery) drops those
// below it as they are read rather than sorting them.
func (p planStore) requireListingPlan(t *testing.T, conn *pgx.Conn, mode, name string, f event.Filter) {
	t.Helper()
	plan := explainListing(t, conn, mode, name, f)
	limit := float64(pageSize(f.Limit))
	floorAllowance := 0.0
	if _, floor := windowFloor(f); f.Order == event.ByProcessed && floor {
		var after *time.Time
		var afterID int64
		if f.After != nil {
			after, afterID = &f.After.At, f.After.ID
		}
		require.NoError(t, conn.QueryRow(context.Background(), `
			SELECT count(*) FROM processed_events
			WHERE ($1 = '' OR topic = $1) AND ($2 = '' OR source = $2)
				AND ($3::timestamptz IS NULL OR "timestamp" >= $3) AND ($4::timestamptz IS NULL OR "timestamp" < $4)
				AND ($5::timestamptz IS NULL OR (processed_at, id) < ($5, $6))`,
			f.Topic, f.Source, f.Since, f.Until, after, afterID).Scan(&floorAllowance))
	}
	t.Logf("%s", plan.summary(p.partitions))
	require.Positive(t, plan.Plan.ActualRows, "the listing finds events")
	require.LessOrEqual(t, plan.Plan.ActualRows, limit)
	plan.Plan.walk(func(n *planNode) {
		role := p.partitions[n.RelationName]
		// A partition ahead of now is empty, and ANALYZE has told the
		// planner so: scanning it reads no page. It is analyzed again, and
		// plans that scan it made again, once autovacuum sees it take rows.
		if role != "<ahead>" {
			require.NotEqual(t, "Seq Scan", n.NodeType, "sequential scan of %s %s", role, n.RelationName)
		}
		allowed := map[string]float64{"filter": max(10*limit, floorAllowance), "index recheck": 10 * limit}
		if role == "<current>" && n.NodeType == "Bitmap Heap Scan" {
			for what := range allowed {
				allowed[what] = max(allowed[what], p.currentAllowance)
			}
		}
		for what, removed := range map[string]float64{"filter": n.RemovedByFilter, "index recheck": n.RemovedByRecheck} {
			removed *= max(n.ActualLoops, 1)
			if removed > 10*limit {
				t.Logf("weak: %s on %s %s throws %.0f rows away by %s", n.NodeType, role, n.RelationName, removed, what)
			}
			require.LessOrEqual(t, removed, allowed[what], "%s on %s %s throws rows away by %s", n.NodeType, role, n.RelationName, what)
		}
	})
}

// pageStart is the cursor of the given page of topic's listing in order o:
// the position of the last event of the page before it.
func (p planStore) pageStart(t *testing.T, topic string, o event.Order, page int) event.Position {
	t.Helper()
	at := "processed_at"
	if o == event.ByTimestamp {
		at = `"timestamp"`
	}
	var pos event.Position
	require.NoError(t, p.s.pool.QueryRow(context.Background(),
		`SELECT `+at+`, id FROM processed_events WHERE topic = $1 ORDER BY `+at+` DESC, id DESC OFFSET $2 LIMIT 1`,
		topic, (page-1)*event.DefaultListLimit-1).Scan(&pos.At, &pos.ID))
	return pos
}

// explainListing runs the statement Events runs for f as a prepared
// statement, the way pgx runs it, in plan_cache_mode mode, and returns
// what EXPLAIN ANALYZE says of it. force_generic_plan shows the plan that
// PostgreSQL may switch to after five executions.
func explainListing(t *testing.T, conn *pgx.Conn, mode, name string, f event.Filter) explained {
	t.Helper()
	ctx := context.Background()
	sql, args, _ := eventsQuery(f)
	simple := pgx.QueryExecModeSimpleProtocol
	_, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode, simple)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `PREPARE `+name+` AS `+sql, simple)
	require.NoError(t, err)
	defer func() { _, _ = conn.Exec(ctx, `DEALLOCATE `+name, simple) }()

	literals := make([]string, len(args))
	for i, a := range args {
		literals[i] = literal(t, a)
	}
	execute := `EXECUTE ` + name
	if len(literals) > 0 {
		execute += `(` + strings.Join(literals, ", ") + `)`
	}
	var out []byte
	require.NoError(t, conn.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+execute, simple).Scan(&out))
	var plans []explained
	require.NoError(t, json.Unmarshal(out, &plans))
	require.Len(t, plans, 1)
	return plans[0]
}

// literal is an argument of eventsQuery as an SQL literal, for EXECUTE.
func literal(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'"
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	t.Fatalf("no literal for %T", v)
	return ""
}

// explained is EXPLAIN (ANALYZE, FORMAT JSON)'s answer, the parts the
// tests read.
type explained struct {
	Plan          planNode `json:"Plan"`
	PlanningTime  float64  `json:"Planning Time"`
	ExecutionTime float64  `json:"Execution Time"`
}

// planNode is one node of a plan. "Rows Removed by …" are averages per
// loop, as EXPLAIN gives them.
type planNode struct {
	NodeType         string     `json:"Node Type"`
	RelationName     string     `json:"Relation Name"`
	IndexName        string     `json:"Index Name"`
	ActualRows       float64    `json:"Actual Rows"`
	ActualLoops      float64    `json:"Actual Loops"`
	RemovedByFilter  float64    `json:"Rows Removed by Filter"`
	RemovedByRecheck float64    `json:"Rows Removed by Index Recheck"`
	HeapFetches      float64    `json:"Heap Fetches"`
	SharedHitBlocks  float64    `json:"Shared Hit Blocks"`
	SharedReadBlocks float64    `json:"Shared Read Blocks"`
	Plans            []planNode `json:"Plans"`
}

// walk calls visit on n and every node under it.
func (n *planNode) walk(visit func(*planNode)) {
	visit(n)
	for i := range n.Plans {
		n.Plans[i].walk(visit)
	}
}

// partitionPrefix matches a partition's name at the start of a relation's
// or an index's name.
var partitionPrefix = regexp.MustCompile(`^processed_events_\d{8}_\d{4}(_migrated)?`)

// summary is one line about the plan: its times, the rows it returned, the
// scans it made (partitions named by their role, each scan with how many
// partitions it ran on, and the rows it read over all of them), and the
// most rows a node threw away.
func (e explained) summary(roles map[string]string) string {
	type scan struct {
		partitions int
		rows       float64
	}
	scans := map[string]*scan{}
	var removed, heapFetches, blocks float64
	e.Plan.walk(func(n *planNode) {
		removed = max(removed, (n.RemovedByFilter+n.RemovedByRecheck)*max(n.ActualLoops, 1))
		heapFetches += n.HeapFetches * max(n.ActualLoops, 1)
		if !strings.Contains(n.NodeType, "Scan") || n.NodeType == "CTE Scan" {
			return
		}
		key := n.NodeType
		role := func(name string) string {
			base := partitionPrefix.FindString(name)
			if base == "" {
				return name
			}
			return roles[base] + strings.TrimPrefix(name, base)
		}
		switch {
		case n.IndexName != "":
			key += " " + role(n.IndexName)
		case n.RelationName != "":
			key += " " + role(n.RelationName)
		}
		if scans[key] == nil {
			scans[key] = &scan{}
		}
		scans[key].partitions++
		scans[key].rows += n.ActualRows * max(n.ActualLoops, 1)
	})
	blocks = e.Plan.SharedHitBlocks + e.Plan.SharedReadBlocks
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(scans)) {
		parts = append(parts, fmt.Sprintf("%s ×%d (%.0f rows)", key, scans[key].partitions, scans[key].rows))
	}
	return fmt.Sprintf("%.2f ms (planning %.2f ms), %.0f rows, %.0f buffers, %.0f heap fetches, at most %.0f rows removed; %s",
		e.ExecutionTime, e.PlanningTime, e.Plan.ActualRows, blocks, heapFetches, removed, strings.Join(parts, "; "))
}
