package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadShapesAreTheIssuesList(t *testing.T) {
	t.Parallel()
	var names []string
	for _, s := range readShapes(50) {
		names = append(names, s.name)
	}
	require.Equal(t, []string{
		"first page", "topic", "source",
		"1h window, order=processed", "1h window, order=timestamp",
		"1d window, order=processed", "1d window, order=timestamp",
		"topic + 1h, order=processed", "topic + 1h, order=timestamp",
		"source + 1h, order=processed", "source + 1h, order=timestamp",
		"topic, page 50", "/stats", "/events/count",
	}, names)
}

func TestReadShapeQueries(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	pool := readPool{topics: []string{"a", "b"}, deepTopics: []string{"deep"}, sources: []string{"s"}, from: from, before: from.Add(48 * time.Hour)}
	rng := rand.New(rand.NewPCG(1, 2))
	byName := map[string]readShape{}
	for _, s := range readShapes(10) {
		byName[s.name] = s
	}

	require.Empty(t, byName["first page"].query(rng, pool))
	require.Equal(t, "s", byName["source"].query(rng, pool).Get("source"))
	require.Equal(t, "deep", byName["topic, page 10"].query(rng, pool).Get("topic"), "the cursor shape takes a topic that has the pages")
	q := byName["topic + 1h, order=timestamp"].query(rng, pool)
	require.Contains(t, pool.topics, q.Get("topic"))
	require.Equal(t, "timestamp", q.Get("order"))
	require.False(t, byName["1h window, order=processed"].query(rng, pool).Has("order"), "processed is the default, not written")

	for range 200 {
		q := byName["1d window, order=processed"].query(rng, pool)
		since, err := time.Parse(time.RFC3339, q.Get("since"))
		require.NoError(t, err)
		until, err := time.Parse(time.RFC3339, q.Get("until"))
		require.NoError(t, err)
		require.Equal(t, 24*time.Hour, until.Sub(since))
		require.False(t, since.Before(pool.from), "the window starts in the history")
		require.False(t, until.After(pool.before), "and ends in it")
	}
	short := readPool{from: from, before: from.Add(20 * time.Minute)}
	require.Equal(t, from, windowStart(rng, short.from, short.before, time.Hour), "a history shorter than the window: at its start")
}

func TestReadShapesSayWhyTheyCannotBeMeasured(t *testing.T) {
	t.Parallel()
	shapes := map[string]readShape{}
	for _, s := range readShapes(50) {
		shapes[s.name] = s
	}
	empty := readPool{}
	require.Empty(t, shapes["first page"].usable(empty))
	require.Empty(t, shapes["/stats"].usable(empty))
	require.Equal(t, "no topic holds events", shapes["topic"].usable(empty))
	require.Equal(t, "no source holds events", shapes["source"].usable(empty))
	require.Equal(t, "no topic holds 50 pages of events", shapes["topic, page 50"].usable(readPool{topics: []string{"a"}}))
	require.Equal(t, "no history to place a window in", shapes["1h window, order=processed"].usable(empty))
}

// fakeLogagg answers /events with pages of a listing, following cursors
// "p2", "p3", …; a topic named "empty" lists nothing and a source named
// "broken" fails. It counts the requests of each page.
type fakeLogagg struct {
	pages int // of every listing
	mu    sync.Mutex
	hits  map[string]int // "page N" → requests
}

func (f *fakeLogagg) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/stats":
		fmt.Fprint(w, `{"received": 1}`)
		return
	case "/events/count":
		fmt.Fprint(w, `{"count": 1}`)
		return
	case "/events":
	default:
		http.NotFound(w, r)
		return
	}
	if q.Get("source") == "broken" {
		http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		return
	}
	page := 1
	if c := q.Get("cursor"); c != "" {
		page, _ = strconv.Atoi(c[1:])
		if len(q) > 1 {
			f.mu.Lock()
			f.hits["cursor with filters"]++
			f.mu.Unlock()
		}
	}
	f.mu.Lock()
	f.hits["page "+strconv.Itoa(page)]++
	f.mu.Unlock()
	if q.Get("topic") == "empty" {
		fmt.Fprint(w, `[]`)
		return
	}
	if page < f.pages {
		w.Header().Set("X-Next-Cursor", "p"+strconv.Itoa(page+1))
	}
	fmt.Fprint(w, `[{"id": 1}, {"id": 2}]`)
}

func TestTimeReads(t *testing.T) {
	t.Parallel()
	fake := &fakeLogagg{pages: 5, hits: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	rd := reader{client: srv.Client(), base: srv.URL}
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	pool := readPool{topics: []string{"t", "empty"}, deepTopics: []string{"t"}, sources: []string{"s", "broken"},
		from: from, before: from.Add(72 * time.Hour)}
	shapes := []readShape{
		{name: "first page", path: "/events"},
		{name: "topic", path: "/events", topic: true},
		{name: "source", path: "/events", source: true},
		{name: "topic, page 4", path: "/events", topic: true, page: 4},
		{name: "/stats", path: "/stats"},
		{name: "no history", path: "/events", window: time.Hour},
	}
	results, err := timeReads(context.Background(), rd, shapes[:5], pool, 40, 7)
	require.NoError(t, err)
	byName := map[string]readResult{}
	for _, r := range results {
		byName[r.Name] = r
	}
	for _, r := range results {
		require.Equal(t, 40, r.Requests, r.Name)
	}
	require.Zero(t, byName["first page"].Errors)
	require.Zero(t, byName["first page"].EmptyPages)
	require.False(t, math.IsNaN(float64(byName["first page"].P99Ms)))
	require.LessOrEqual(t, byName["first page"].P50Ms, byName["first page"].P99Ms)
	require.LessOrEqual(t, byName["first page"].P99Ms, byName["first page"].MaxMs)

	require.Positive(t, byName["topic"].EmptyPages, "the topic with nothing gives empty pages")
	require.Less(t, byName["topic"].EmptyPages, 40)
	require.Positive(t, byName["source"].Errors, "the failing source is counted")
	require.Contains(t, byName["source"].Error, "500")
	require.False(t, math.IsNaN(float64(byName["source"].P50Ms)), "the requests that worked are timed")

	// The cursor shape asks for pages 1 to 4 once per request (the
	// warm-up included); the other listings only for page 1.
	fake.mu.Lock()
	hits := maps.Clone(fake.hits)
	fake.mu.Unlock()
	require.Equal(t, 41, hits["page 4"])
	require.Equal(t, 41, hits["page 2"])
	require.Zero(t, hits["page 5"])
	require.Zero(t, hits["cursor with filters"], "a cursor is sent alone")

	// A shape that cannot be measured says why; a deeper page than the
	// listing has is an error.
	results, err = timeReads(context.Background(), rd, []readShape{shapes[5], {name: "page 9", path: "/events", topic: true, page: 9}},
		readPool{topics: []string{"t"}, deepTopics: []string{"t"}}, 2, 7)
	require.ErrorIs(t, err, errReadsFailed)
	require.Equal(t, "not measured: no history to place a window in", results[0].Error)
	require.Zero(t, results[0].Requests)
	require.Equal(t, 2, results[1].Errors)
	require.Contains(t, results[1].Error, "ends at page 5, before page 9")
}
