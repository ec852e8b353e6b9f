package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/logagg/logagg/internal/loadgen"
)

// readShape is one kind of request the read phase times.
type readShape struct {
	name   string
	path   string        // "/events", "/stats", "/events/count"
	order  string        // /events' order parameter; "" is the default, processed
	topic  bool          // a topic= filter, a topic at random
	source bool          // a source= filter, a source at random
	window time.Duration // a since/until window at a random place in history; 0: none
	// page, when above 1, is the page of a topic's listing timed: the
	// cursor is followed to it, untimed.
	page int
}

// readShapes are the listings a log store is asked for, each to stay fast
// however much it holds: the first page, a topic, a source, an hour and a
// day anywhere in history, a topic or a source within an hour, a page deep
// in a topic; the windows in both orders; and the counters.
func readShapes(cursorPage int) []readShape {
	const hour, day = time.Hour, 24 * time.Hour
	shapes := []readShape{
		{name: "first page", path: "/events"},
		{name: "topic", path: "/events", topic: true},
		{name: "source", path: "/events", source: true},
	}
	for _, w := range []struct {
		name   string
		window time.Duration
		topic  bool
		source bool
	}{
		{"1h window", hour, false, false},
		{"1d window", day, false, false},
		{"topic + 1h", hour, true, false},
		{"source + 1h", hour, false, true},
	} {
		for _, order := range []string{"processed", "timestamp"} {
			shapes = append(shapes, readShape{name: w.name + ", order=" + order, path: "/events",
				order: order, topic: w.topic, source: w.source, window: w.window})
		}
	}
	return append(shapes,
		readShape{name: fmt.Sprintf("topic, page %d", cursorPage), path: "/events", topic: true, page: cursorPage},
		readShape{name: "/stats", path: "/stats"},
		readShape{name: "/events/count", path: "/events/count"},
	)
}

// readPool is what the read shapes pick their filters from.
type readPool struct {
	topics       []string
	deepTopics   []string // topics with enough events for the cursor shape's page
	sources      []string
	from, before time.Time // the history windows are placed in
}

// query is a request of shape s, its filters picked with rng from pool.
func (s readShape) query(rng *rand.Rand, pool readPool) url.Values {
	q := url.Values{}
	if s.order != "" && s.order != "processed" {
		q.Set("order", s.order)
	}
	if s.topic {
		topics := pool.topics
		if s.page > 1 {
			topics = pool.deepTopics
		}
		q.Set("topic", topics[rng.IntN(len(topics))])
	}
	if s.source {
		q.Set("source", pool.sources[rng.IntN(len(pool.sources))])
	}
	if s.window > 0 {
		since := windowStart(rng, pool.from, pool.before, s.window)
		q.Set("since", since.Format(time.RFC3339))
		q.Set("until", since.Add(s.window).Format(time.RFC3339))
	}
	return q
}

// windowStart places a window of length w at random within [from,
// before), to the second: anywhere it fits, or at from when the history is
// shorter than w.
func windowStart(rng *rand.Rand, from, before time.Time, w time.Duration) time.Time {
	span := before.Sub(from) - w
	if span <= time.Second {
		return from.Truncate(time.Second)
	}
	return from.Add(time.Duration(rng.Int64N(int64(span/time.Second))) * time.Second).Truncate(time.Second)
}

// usable says why the shape cannot be measured from pool, or "".
func (s readShape) usable(pool readPool) string {
	switch {
	case s.page > 1 && len(pool.deepTopics) == 0:
		return fmt.Sprintf("no topic holds %d pages of events", s.page)
	case s.topic && len(pool.topics) == 0:
		return "no topic holds events"
	case s.source && len(pool.sources) == 0:
		return "no source holds events"
	case s.window > 0 && !pool.before.After(pool.from):
		return "no history to place a window in"
	}
	return ""
}

// readResult is one shape's timings.
type readResult struct {
	Name     string `json:"name"`
	Example  string `json:"example"` // one request, as sent
	Requests int    `json:"requests"`
	P50Ms    num    `json:"p50_ms"`
	P99Ms    num    `json:"p99_ms"`
	MaxMs    num    `json:"max_ms"`
	// EmptyPages counts listings that returned no event: a window in a gap,
	// or a filter that matches nothing, is quicker than a real one.
	EmptyPages int    `json:"empty_pages"`
	Errors     int    `json:"errors"`
	Error      string `json:"error,omitempty"` // the first error, or why the shape was not measured
}

// reader times requests against one localrun.
type reader struct {
	client *http.Client
	base   string
}

// answer is what one request got: the rows of a listing (-1 otherwise) and
// the cursor of its next page.
type answer struct {
	rows int
	next string
}

// get sends GET path?q and reads the whole answer; elapsed runs from
// sending to the last byte.
func (rd reader) get(ctx context.Context, path string, q url.Values) (answer, time.Duration, error) {
	u := rd.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return answer{}, 0, err
	}
	started := time.Now()
	resp, err := rd.client.Do(req)
	if err != nil {
		return answer{}, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(started)
	_ = resp.Body.Close()
	if err != nil {
		return answer{}, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, 0, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, body)
	}
	a := answer{rows: -1, next: resp.Header.Get("X-Next-Cursor")}
	if path == "/events" {
		var rows []json.RawMessage
		if err := json.Unmarshal(body, &rows); err != nil {
			return answer{}, 0, fmt.Errorf("GET %s: %w", u, err)
		}
		a.rows = len(rows)
	}
	return a, elapsed, nil
}

// one sends one request of shape s; for a cursor shape, the pages before
// s.page are fetched first and only the last is timed.
func (rd reader) one(ctx context.Context, s readShape, q url.Values) (answer, time.Duration, error) {
	if s.page <= 1 {
		return rd.get(ctx, s.path, q)
	}
	for page := 1; page < s.page; page++ {
		a, _, err := rd.get(ctx, s.path, q)
		if err != nil {
			return a, 0, err
		}
		if a.next == "" {
			return a, 0, fmt.Errorf("the listing %s ends at page %d, before page %d", q.Encode(), page, s.page)
		}
		q = url.Values{"cursor": {a.next}}
	}
	return rd.get(ctx, s.path, q)
}

// errReadsFailed ends a read phase in which every request failed.
var errReadsFailed = errors.New("every read request failed")

// timeReads sends n requests of each shape, one at a time, the shapes taking
// turns so that whatever else happens meanwhile weighs on all of them; a
// first round, untimed, opens the connections and fills the caches.
func timeReads(ctx context.Context, rd reader, shapes []readShape, pool readPool, n int, seed uint64) ([]readResult, error) {
	rng := rand.New(rand.NewPCG(seed, 0x7265616473))
	results := make([]readResult, len(shapes))
	times := make([][]time.Duration, len(shapes))
	for i, s := range shapes {
		results[i] = readResult{Name: s.name, P50Ms: nan(), P99Ms: nan(), MaxMs: nan()}
		if why := s.usable(pool); why != "" {
			results[i].Error = "not measured: " + why
			continue
		}
		q := s.query(rng, pool)
		results[i].Example = s.path
		if len(q) > 0 {
			results[i].Example += "?" + q.Encode()
		}
		_, _, _ = rd.one(ctx, s, q) // warm-up
	}
	for round := 0; round < n; round++ {
		for i, s := range shapes {
			if results[i].Example == "" {
				continue
			}
			a, elapsed, err := rd.one(ctx, s, s.query(rng, pool))
			if ctx.Err() != nil {
				return results, ctx.Err()
			}
			results[i].Requests++
			if err != nil {
				results[i].Errors++
				if results[i].Error == "" {
					results[i].Error = err.Error()
				}
				continue
			}
			if a.rows == 0 {
				results[i].EmptyPages++
			}
			times[i] = append(times[i], elapsed)
		}
	}
	failed := true
	for i := range results {
		ts := times[i]
		if len(ts) == 0 {
			continue
		}
		failed = false
		results[i].P50Ms = num(msOf(loadgen.Percentile(ts, 50)))
		results[i].P99Ms = num(msOf(loadgen.Percentile(ts, 99)))
		results[i].MaxMs = num(msOf(slices.Max(ts)))
	}
	if failed {
		return results, errReadsFailed
	}
	return results, nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
