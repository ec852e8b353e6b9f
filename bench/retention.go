package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/shared/store"
)

// storedPartition is a partition of processed_events whose range is over,
// and about how many events it holds (PostgreSQL's estimate, exact enough
// once the partition was vacuumed and analyzed).
type storedPartition struct {
	name   string
	before time.Time // its upper bound
	rows   int64
}

// endedPartitions lists processed_events' partitions whose whole range
// lies before now, oldest first.
func endedPartitions(ctx context.Context, conn *pgx.Conn, now time.Time) ([]storedPartition, error) {
	rows, err := conn.Query(ctx, `
		SELECT c.relname, trim(both '''' FROM b[1])::timestamptz, greatest(c.reltuples, 0)::bigint
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid,
			regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \((.+)\)') AS b
		WHERE i.inhparent = 'processed_events'::regclass
		ORDER BY 2`)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storedPartition, error) {
		var p storedPartition
		err := row.Scan(&p.name, &p.before, &p.rows)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	var ended []storedPartition
	for _, p := range all {
		if !p.before.After(now) {
			ended = append(ended, p)
		}
	}
	return ended, nil
}

// retentionCutoff picks, among ended partitions (oldest first), how many
// the retention pass drops: the oldest ones, whose events add up nearest
// to target, at least one. It returns 0 when there is none.
func retentionCutoff(ended []storedPartition, target int64) int {
	best, bestOff := 0, int64(math.MaxInt64)
	var sum int64
	for i, p := range ended {
		sum += p.rows
		off := sum - target
		if off < 0 {
			off = -off
		}
		if off < bestOff {
			best, bestOff = i+1, off
		}
	}
	return best
}

// statsPoint is one reading of /stats' received counter.
type statsPoint struct {
	at       time.Time
	received int64
}

// statsSeries is /stats' received counter over a run.
type statsSeries []statsPoint

// receivedAt interpolates the counter at t, linearly between readings; the
// first or last reading outside them.
func (s statsSeries) receivedAt(t time.Time) float64 {
	i := sort.Search(len(s), func(i int) bool { return !s[i].at.Before(t) })
	switch {
	case i == 0:
		return float64(s[0].received)
	case i == len(s):
		return float64(s[len(s)-1].received)
	}
	a, b := s[i-1], s[i]
	f := float64(t.Sub(a.at)) / float64(b.at.Sub(a.at))
	return float64(a.received) + f*float64(b.received-a.received)
}

// drained is when the counter reached its last value.
func (s statsSeries) drained() time.Time {
	last := s[len(s)-1]
	for i := len(s) - 1; i > 0; i-- {
		if s[i-1].received != last.received {
			return s[i].at
		}
	}
	return s[0].at
}

// minRateSpan is the shortest span a rate is read over: /stats moves a
// batch at a time, so a shorter span says more about when batches
// committed than about the rate.
const minRateSpan = time.Second

// rate is the events received per second from from for d (minRateSpan at
// least), cut short where the counter stopped (the run drained); span is
// how long it was read over. NaN when nothing is left of the span.
func (s statsSeries) rate(from time.Time, d time.Duration) (rate float64, span time.Duration) {
	if len(s) < 2 || d <= 0 {
		return math.NaN(), 0
	}
	to := from.Add(max(d, minRateSpan))
	if end := s.drained(); end.Before(to) {
		to = end
	}
	if !to.After(from) {
		return math.NaN(), 0
	}
	return (s.receivedAt(to) - s.receivedAt(from)) / to.Sub(from).Seconds(), to.Sub(from)
}

// statsEvery is how often the retention runs read /stats.
const statsEvery = 50 * time.Millisecond

// retentionRun is what a run of the retention phase saw beside the load:
// /stats' received counter, and when the load had reached its stride.
type retentionRun struct {
	series  statsSeries
	stride  time.Time // when a tenth of the events had been received
	pass    *store.Maintenance
	passAt  time.Time
	passFor time.Duration
	retries int // passes skipped because another process was maintaining
}

// follow reads /stats at url every statsEvery until ctx ends; once a tenth
// of events have been received since the first reading, it notes the
// moment and calls atStride, if any, in the background. It returns when
// ctx has ended and atStride has returned.
func (rr *retentionRun) follow(ctx context.Context, url string, events int, atStride func()) error {
	client := loadgen.NewClient(url, "")
	var base int64 = -1
	done := make(chan struct{})
	started := false
	tick := time.NewTicker(statsEvery)
	defer tick.Stop()
	for {
		if st, err := client.Stats(ctx); err == nil {
			now := time.Now()
			if base < 0 {
				base = st.Received
			}
			rr.series = append(rr.series, statsPoint{at: now, received: st.Received - base})
			if !started && st.Received-base >= int64(events/10) {
				started = true
				rr.stride = now
				go func() {
					defer close(done)
					if atStride != nil {
						atStride()
					}
				}()
			}
		}
		select {
		case <-ctx.Done():
			if started {
				<-done
			}
			return nil
		case <-tick.C:
		}
	}
}

// maintainUntilDone runs a pass of st.Maintain with p, again while another
// process holds the maintenance lock (for up to a minute), and times the
// pass that ran.
func (rr *retentionRun) maintainUntilDone(ctx context.Context, st *store.Store, p store.Policy) error {
	deadline := time.Now().Add(time.Minute)
	for {
		rr.passAt = time.Now()
		m, err := st.Maintain(ctx, p)
		rr.passFor = time.Since(rr.passAt)
		if err != nil {
			return fmt.Errorf("the retention pass: %w", err)
		}
		if !m.Skipped {
			rr.pass = &m
			return nil
		}
		rr.retries++
		if time.Now().After(deadline) {
			return fmt.Errorf("the retention pass: another process held the maintenance lock for a minute")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
