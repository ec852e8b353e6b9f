package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// planning is what planning a listing costs with the store's partitions:
// a query on processed_events that no processed_at condition prunes is
// planned against every partition.
type planning struct {
	Partitions  int `json:"partitions"`
	FirstPageMs num `json:"first_page_ms"` // median planning time of the first page
	TopicMs     num `json:"topic_ms"`      // … of a topic's first page
}

// planningQueries are the first page and a topic's first page in the
// store's form (shared/store/query.go).
var planningQueries = map[string]string{
	"first page": `SELECT id, topic, event_id, "timestamp", source, payload, processed_at FROM processed_events ORDER BY processed_at DESC, id DESC LIMIT 100`,
	"topic": `SELECT id, topic, event_id, "timestamp", source, payload, processed_at FROM processed_events WHERE topic = '` +
		preloadTopicPrefix + `07' ORDER BY processed_at DESC, id DESC LIMIT 100`,
}

// planningRepeats is how many times each query is planned; the median counts.
const planningRepeats = 21

// measurePlanning plans each of planningQueries planningRepeats times,
// without running them, and keeps the median planning time.
func measurePlanning(ctx context.Context, conn *pgx.Conn) (planning, error) {
	p := planning{FirstPageMs: nan(), TopicMs: nan()}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'processed_events'::regclass`).Scan(&p.Partitions); err != nil {
		return p, err
	}
	for name, field := range map[string]*num{"first page": &p.FirstPageMs, "topic": &p.TopicMs} {
		var times []float64
		for range planningRepeats {
			rows, err := conn.Query(ctx, `EXPLAIN (SUMMARY) `+planningQueries[name])
			if err != nil {
				return p, err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return p, err
			}
			ms, err := planningTime(lines)
			if err != nil {
				return p, fmt.Errorf("planning the %s: %w", name, err)
			}
			times = append(times, ms)
		}
		*field = num(median(times))
	}
	return p, nil
}

// planningTime reads "Planning Time: 1.234 ms" from EXPLAIN's lines.
func planningTime(lines []string) (float64, error) {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Planning Time:"); ok {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "ms")), 64)
		}
	}
	return 0, fmt.Errorf("EXPLAIN gave no planning time")
}
