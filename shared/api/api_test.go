package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// fakeQueue records the events published, one body each, and the messages
// that carried them; err makes Publish fail.
type fakeQueue struct {
	mu        sync.Mutex
	bodies    [][]byte
	messages  []queue.Outgoing
	err       error
	published int64
	delay     time.Duration // Publish takes this long, or until its context ends
}

func (q *fakeQueue) setDelay(d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.delay = d
}

func (q *fakeQueue) Publish(ctx context.Context, msgs []queue.Outgoing) error {
	q.mu.Lock()
	delay := q.delay
	q.mu.Unlock()
	if delay > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	for _, m := range msgs {
		q.messages = append(q.messages, m)
		q.published += int64(max(m.Events, 1))
		if m.Events <= 1 {
			q.bodies = append(q.bodies, m.Body)
			continue
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(m.Body, &elems); err != nil || len(elems) != m.Events {
			return fmt.Errorf("a message of %d events is not an array of them: %s", m.Events, m.Body)
		}
		for _, e := range elems {
			q.bodies = append(q.bodies, e)
		}
	}
	return nil
}

func (q *fakeQueue) Published(context.Context) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.published, q.err
}

func (q *fakeQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.bodies)
}

// fakeReader answers reads from fixed data and records the last filter.
type fakeReader struct {
	mu     sync.Mutex
	list   []event.StoredEvent
	stats  event.Stats
	err    error
	filter event.Filter
	// topics are listed by Topics; topicFilter is its last filter
	topics      []event.TopicStats
	topicFilter event.TopicFilter
}

func (r *fakeReader) Events(_ context.Context, f event.Filter) ([]event.StoredEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.filter = f
	if r.err != nil {
		return nil, r.err
	}
	// r.list is newest processed first, as the store lists.
	out := []event.StoredEvent{}
	for _, e := range r.list {
		after := f.After == nil || e.ProcessedAt.Before(f.After.At) ||
			e.ProcessedAt.Equal(f.After.At) && e.ID < f.After.ID
		if after && (f.Topic == "" || e.Topic == f.Topic) && len(out) < f.Limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (r *fakeReader) Count(_ context.Context, topic string) (int64, error) {
	return int64(len(r.list)), r.err
}

func (r *fakeReader) Stats(context.Context) (event.Stats, error) { return r.stats, r.err }

// Topics lists r.topics, or one topic "a" when there are none, by name.
func (r *fakeReader) Topics(_ context.Context, f event.TopicFilter) ([]event.TopicStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topicFilter = f
	all := r.topics
	if all == nil {
		all = []event.TopicStats{{Topic: "a", Unique: 2, Duplicates: 1}}
	}
	out := []event.TopicStats{}
	for _, t := range all {
		if (f.After == nil || t.Topic > f.After.Topic) && strings.Contains(t.Topic, f.Contains) && len(out) < max(f.Limit, 1) {
			out = append(out, t)
		}
	}
	return out, r.err
}

type harness struct {
	srv    *Server
	queue  *fakeQueue
	reader *fakeReader
}

func newHarness(t *testing.T, mod func(*Deps)) harness {
	t.Helper()
	h := harness{queue: &fakeQueue{}, reader: &fakeReader{}}
	deps := Deps{
		Publisher: h.queue, Reader: h.reader, Published: h.queue, Version: "test",
		Limits: event.Limits{MaxEvents: 5, MaxEventBytes: 1024}, MaxBodyBytes: 4096,
		Checks:  []Check{{Name: "database", Ping: func(context.Context) error { return nil }}},
		Started: time.Now().Add(-3 * time.Second),
	}
	if mod != nil {
		mod(&deps)
	}
	h.srv = New(deps)
	return h
}

func (h harness) do(t *testing.T, method, target, ctype, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"), rec.Body.String())
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return m
}

// publishTo posts body to /publish of a harness of its own and checks the
// status of the answer.
func publishTo(t *testing.T, ctype, body string, status int) (harness, *httptest.ResponseRecorder) {
	t.Helper()
	h := newHarness(t, nil)
	rec := h.do(t, "POST", "/publish", ctype, body)
	require.Equal(t, status, rec.Code, rec.Body.String())
	return h, rec
}

const oneEvent = `{"topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"auth","payload":{"user":"ana"}}`

func TestPublishAcceptsEveryForm(t *testing.T) {
	t.Parallel()
	two := `{"topic":"t","event_id":"2","timestamp":"2026-11-25T10:00:00+07:00","source":"s"}`
	cases := []struct {
		name, ctype, body string
		queued            int
	}{
		{"wrapped", "application/json", `{"events":[` + oneEvent + `,` + two + `]}`, 2},
		{"bare array", "application/json", `[` + oneEvent + `,` + two + `]`, 2},
		{"single object", "application/json", oneEvent, 1},
		{"no content type", "", oneEvent, 1},
		{"ndjson", "application/x-ndjson", oneEvent + "\n" + two + "\n", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, rec := publishTo(t, tc.ctype, tc.body, http.StatusAccepted)
			require.Equal(t, map[string]any{"status": "accepted", "queued": float64(tc.queued)}, decodeBody(t, rec))
			require.Equal(t, tc.queued, h.queue.count())
			got, err := event.DecodeMessage(h.queue.bodies[0])
			require.NoError(t, err)
			require.Equal(t, "user.login", got[0].Topic)
		})
	}
}

// Events are packed into messages by routing group: every copy of an event
// is in its key's group, a message holds at most MaxMessageEvents, and
// together the messages carry every event once.
func TestPublishPacksEventsByGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.MaxMessageEvents, d.MaxBodyBytes, d.Limits.MaxEvents = 10, 1<<20, 1000 })
	var lines []string
	for i := range 300 {
		lines = append(lines, fmt.Sprintf(`{"topic":"t%d","event_id":"e-%d","timestamp":"2026-11-25T10:00:00Z","source":"s"}`, i%3, i%200))
	}
	rec := h.do(t, "POST", "/publish", "application/x-ndjson", strings.Join(lines, "\n"))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())

	require.Equal(t, 300, h.queue.count(), "every event is queued, copies included")
	require.Less(t, len(h.queue.messages), 300/5, "events share messages")
	for _, m := range h.queue.messages {
		require.LessOrEqual(t, m.Events, 10)
		evs, err := event.DecodeMessage(m.Body)
		require.NoError(t, err)
		require.Len(t, evs, max(m.Events, 1))
		for _, e := range evs {
			require.Equal(t, queue.GroupOf(e.Topic, e.EventID), m.Group, "%s/%s travels in its key's group", e.Topic, e.EventID)
		}
	}
}

func TestPublishRejections(t *testing.T) {
	t.Parallel()
	big := `{"events":[` + strings.Repeat(oneEvent+",", 40) + oneEvent + `]}`
	six := `[` + strings.Repeat(oneEvent+",", 5) + oneEvent + `]`
	cases := []struct {
		name, ctype, body string
		status            int
		wantError         string
	}{
		{"malformed json", "application/json", `{"events":[`, 400, ""},
		{"form content type", "application/x-www-form-urlencoded", oneEvent, 415, "Content-Type: application/json"},
		{"invalid event", "application/json", `[` + oneEvent + `,{"topic":""}]`, 422, ""},
		{"empty batch", "application/json", `{"events":[]}`, 422, ""},
		{"body over limit", "application/json", big, 413, "4096"},
		{"too many events", "application/json", six, 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, rec := publishTo(t, tc.ctype, tc.body, tc.status)
			body := decodeBody(t, rec)
			require.NotEmpty(t, body["error"])
			require.Contains(t, body["error"], tc.wantError)
			require.Zero(t, h.queue.count(), "a rejected request queues nothing")
		})
	}
}

func TestPublishInvalidGivesDetails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rec := h.do(t, "POST", "/publish", "application/json",
		`[`+oneEvent+`,{"topic":"t","event_id":"x","timestamp":"yesterday","source":"s"}]`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	var body errorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Len(t, body.Details, 1)
	require.Equal(t, 1, body.Details[0].Index)
	require.Equal(t, "timestamp", body.Details[0].Field)
}

func TestPublishQueueFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		status     int
		retryAfter string
	}{
		{event.Errorf(event.Overloaded, "backlog full"), 429, "1"},
		{event.Errorf(event.Unavailable, "queue unavailable"), 503, "5"},
		{errors.New("dial tcp: secret detail"), 500, ""},
	} {
		h := newHarness(t, nil)
		h.queue.err = tc.err
		rec := h.do(t, "POST", "/publish", "application/json", oneEvent)
		require.Equal(t, tc.status, rec.Code)
		require.Equal(t, tc.retryAfter, rec.Header().Get("Retry-After"))
		require.NotContains(t, rec.Body.String(), "secret detail", "internal errors stay in the logs")
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.APIKeys = []string{"k1", "k2"} })
	require.Equal(t, 401, h.do(t, "GET", "/stats", "", "").Code)
	require.Equal(t, 401, h.do(t, "GET", "/nowhere", "", "").Code, "checked before routing")
	require.Equal(t, 401, h.do(t, "GET", "/stats", "", "", "X-API-Key", "wrong").Code)
	require.Equal(t, 200, h.do(t, "GET", "/stats", "", "", "X-API-Key", "k2").Code)
	require.Equal(t, 200, h.do(t, "GET", "/stats", "", "", "Authorization", "Bearer k1").Code)
	require.Equal(t, 200, h.do(t, "GET", "/health", "", "").Code, "health needs no key")
	rec := h.do(t, "POST", "/publish", "application/json", oneEvent)
	require.Equal(t, 401, rec.Code)
	require.Contains(t, decodeBody(t, rec)["error"], "X-API-Key")
}

func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rec := h.do(t, "GET", "/nope", "", "")
	require.Equal(t, 404, rec.Code)
	require.NotEmpty(t, decodeBody(t, rec)["error"])
	rec = h.do(t, "GET", "/publish", "", "")
	require.Equal(t, 405, rec.Code)
	require.Equal(t, "POST", rec.Header().Get("Allow"))
	require.NotEmpty(t, decodeBody(t, rec)["error"])
	rec = h.do(t, "DELETE", "/events", "", "")
	require.Equal(t, 405, rec.Code)
	require.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

func TestEventsQueryParameters(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"limit=abc", "limit=0", "limit=1001", "cursor=garbage", "cursor=djE6LTE", "cursor=djE6MTIz",
		"since=yesterday", "until=2026-11-25", "topic=%zz", "topic=", "source=", "since=", "cursor=", "limit=",
		"topic=a&topic=b"} {
		h := newHarness(t, nil)
		rec := h.do(t, "GET", "/events?"+bad, "", "")
		require.Equal(t, 400, rec.Code, bad)
		require.NotEmpty(t, decodeBody(t, rec)["error"], bad)
	}
	h := newHarness(t, nil)
	rec := h.do(t, "GET", "/events?topic=a&source=s&since=2026-11-25T00:00:00Z&until=2026-11-26T00:00:00%2B07:00&limit=7", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	f := h.reader.filter
	require.Equal(t, "a", f.Topic)
	require.Equal(t, "s", f.Source)
	require.Equal(t, 7, f.Limit)
	require.True(t, f.Since.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)))
	require.True(t, f.Until.Equal(time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)))
	require.JSONEq(t, `[]`, rec.Body.String(), "an empty page is an empty array")

	// The earliest time Go's zero value stands for is a filter like any other.
	rec = h.do(t, "GET", "/events?since=0001-01-01T00:00:00Z&until=0001-01-01T00:00:00Z", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.NotNil(t, h.reader.filter.Since, "since of 0001-01-01 filters")
	require.NotNil(t, h.reader.filter.Until, "until of 0001-01-01 filters")
	// The timestamp rule: lower-case t and z, and the range every part can
	// give back.
	rec = h.do(t, "GET", "/events?since=2026-11-25t00:00:00z", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.True(t, h.reader.filter.Since.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)))
	rec = h.do(t, "GET", "/events?until=9999-12-31T23:59:59-23:59", "", "")
	require.Equal(t, 400, rec.Code, rec.Body.String())
	require.Contains(t, decodeBody(t, rec)["error"], "9999-12-31T23:59:59.999999Z")
	rec = h.do(t, "GET", "/events", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Nil(t, h.reader.filter.Since)
	require.Nil(t, h.reader.filter.Until)
}

func TestEventsPagingWithCursor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	// Newest processed first: two transactions, the later one holding ids
	// lower than the earlier one's, as concurrent consumers do.
	later, earlier := time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC), time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, at := range []struct {
		id int64
		at time.Time
	}{{3, later}, {2, later}, {5, earlier}, {4, earlier}, {1, earlier}} {
		h.reader.list = append(h.reader.list, event.StoredEvent{ID: at.id, ProcessedAt: at.at,
			Event: event.Event{Topic: "t", EventID: string(rune('a' + i)), Payload: json.RawMessage(`{}`)}})
	}
	var seen []string
	next := "/events?limit=2"
	for next != "" {
		rec := h.do(t, "GET", next, "", "")
		require.Equal(t, 200, rec.Code, rec.Body.String())
		var page []map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		for _, e := range page {
			seen = append(seen, e["event_id"].(string))
		}
		next = ""
		if c := rec.Header().Get(NextCursorHeader); c != "" {
			require.Contains(t, rec.Header().Get("Link"), "cursor="+c)
			next = "/events?cursor=" + c
		}
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, seen)
}

// A cursor carries the query it came from: followed alone it keeps the
// filters and the page size; sent with other filters it is refused.
func TestEventsCursorCarriesItsQuery(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		topic := "a"
		if i%2 == 1 {
			topic = "b"
		}
		h.reader.list = append(h.reader.list, event.StoredEvent{ID: int64(10 - i), ProcessedAt: at,
			Event: event.Event{Topic: topic, EventID: fmt.Sprint(i), Payload: json.RawMessage(`{}`)}})
	}
	rec := h.do(t, "GET", "/events?topic=a&since=2026-11-25T00:00:00%2B00:00&limit=2", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	c := rec.Header().Get(NextCursorHeader)
	require.NotEmpty(t, c)
	// The Link is relative: resolved against the URL the client asked for,
	// a path prefix a proxy added stays.
	link := rec.Header().Get("Link")
	require.True(t, strings.HasPrefix(link, "<events?") && strings.HasSuffix(link, `>; rel="next"`), link)
	asked, err := url.Parse("https://logs.example.com/prod/events?topic=a&limit=2")
	require.NoError(t, err)
	ref, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
	require.NoError(t, err)
	next := asked.ResolveReference(ref)
	require.Equal(t, "/prod/events", next.Path)
	require.Equal(t, c, next.Query().Get("cursor"))
	require.Equal(t, "a", next.Query().Get("topic"))

	// Alone: the same topic, the same window, the same page size.
	rec = h.do(t, "GET", "/events?cursor="+c, "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, "a", h.reader.filter.Topic)
	require.Equal(t, 2, h.reader.filter.Limit)
	require.NotNil(t, h.reader.filter.Since)
	require.True(t, h.reader.filter.Since.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)))
	var page []event.StoredEvent
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page, 2)
	for _, e := range page {
		require.Equal(t, "a", e.Topic)
	}

	// With its own parameters, however the time is written, and with a
	// new page size: accepted.
	for _, same := range []string{"topic=a&since=2026-11-25T00:00:00Z", "topic=a&since=2026-11-25T07:00:00%2B07:00&limit=3"} {
		rec = h.do(t, "GET", "/events?"+same+"&cursor="+c, "", "")
		require.Equal(t, 200, rec.Code, same+": "+rec.Body.String())
	}
	require.Equal(t, 3, h.reader.filter.Limit)
	// With other filters: a 400 that says so.
	for _, other := range []string{"topic=b", "topic=a", "since=2026-11-25T00:00:00Z", "topic=a&since=2026-11-25T00:00:00Z&source=s"} {
		rec = h.do(t, "GET", "/events?"+other+"&cursor="+c, "", "")
		require.Equal(t, 400, rec.Code, other)
		require.Contains(t, decodeBody(t, rec)["error"], "cursor continues the query", other)
	}
	// Another listing's cursor.
	rec = h.do(t, "GET", "/topics?cursor="+c, "", "")
	require.Equal(t, 400, rec.Code)
	require.Contains(t, decodeBody(t, rec)["error"], "belongs to /events")
}

func TestTopicsPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, name := range []string{"app.a", "app.b", "db.c", "app.d", "app.e"} {
		h.reader.topics = append(h.reader.topics, event.TopicStats{Topic: name, Unique: 1})
	}
	var seen []string
	next := "/topics?contains=app&limit=2&order=name"
	for next != "" {
		rec := h.do(t, "GET", next, "", "")
		require.Equal(t, 200, rec.Code, rec.Body.String())
		var page []event.TopicStats
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		for _, tp := range page {
			seen = append(seen, tp.Topic)
		}
		require.Equal(t, "app", h.reader.topicFilter.Contains)
		require.Equal(t, event.ByName, h.reader.topicFilter.Order)
		next = ""
		if c := rec.Header().Get(NextCursorHeader); c != "" {
			next = "/topics?cursor=" + c
		}
	}
	require.Equal(t, []string{"app.a", "app.b", "app.d", "app.e"}, seen)

	// The default order, written out or not, is the same query.
	rec := h.do(t, "GET", "/topics?limit=1", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	c := rec.Header().Get(NextCursorHeader)
	require.NotEmpty(t, c)
	rec = h.do(t, "GET", "/topics?order=name&cursor="+c, "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())

	rec = h.do(t, "GET", "/topics?order=recent&limit=1", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, event.ByRecent, h.reader.topicFilter.Order)
	require.Equal(t, 1, h.reader.topicFilter.Limit)
	for _, bad := range []string{"order=size", "order=", "contains=", "limit=0", "cursor=abc"} {
		rec := h.do(t, "GET", "/topics?"+bad, "", "")
		require.Equal(t, 400, rec.Code, bad)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.reader.stats = event.Stats{Received: 50, UniqueProcessed: 35, DuplicateDropped: 15, Topics: 3, DeadLettered: 2, PayloadConflicts: 1}
	h.queue.published = 60
	rec := h.do(t, "GET", "/stats", "", "")
	require.Equal(t, 200, rec.Code)
	body := decodeBody(t, rec)
	for k, v := range map[string]float64{"received": 50, "unique_processed": 35, "duplicate_dropped": 15, "topics": 3,
		"published": 60, "queued": 8, "dead_lettered": 2, "payload_conflicts": 1} {
		require.Equal(t, v, body[k], k)
	}
	require.GreaterOrEqual(t, body["uptime_seconds"], float64(3))
	require.Equal(t, "healthy", body["status"], "the seed's value, which its clients read")
}

// queued is reported as computed: negative when the published counter lost
// events, so that the inconsistency shows instead of a 0.
func TestStatsReportsANegativeQueued(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.reader.stats = event.Stats{Received: 50, UniqueProcessed: 35, DuplicateDropped: 15, DeadLettered: 2}
	h.queue.published = 40
	rec := h.do(t, "GET", "/stats", "", "")
	require.Equal(t, 200, rec.Code)
	body := decodeBody(t, rec)
	require.Equal(t, float64(-12), body["queued"])
	require.Equal(t, float64(40), body["published"])
}

func TestCountRefusesAnEmptyTopic(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	rec := h.do(t, "GET", "/events/count?topic=", "", "")
	require.Equal(t, 400, rec.Code)
	require.Contains(t, decodeBody(t, rec)["error"], `"topic" is empty`)
}

func TestStatsWhenDatabaseIsDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.reader.err = event.Wrap(event.Unavailable, errors.New("connection refused to 10.0.0.1"), "database unavailable")
	rec := h.do(t, "GET", "/stats", "", "")
	require.Equal(t, 503, rec.Code)
	require.Equal(t, "database unavailable", decodeBody(t, rec)["error"])
}

func TestHealthNamesTheFailingDependency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) {
		d.Checks = append(d.Checks, Check{Name: "redis", Ping: func(context.Context) error { return errors.New("down") }})
	})
	rec := h.do(t, "GET", "/health", "", "")
	require.Equal(t, 503, rec.Code)
	require.Equal(t, map[string]any{"status": "unhealthy", "database": "connected", "redis": "disconnected"}, decodeBody(t, rec))

	ok := newHarness(t, nil)
	rec = ok.do(t, "GET", "/health", "", "")
	require.Equal(t, 200, rec.Code)
	require.Equal(t, "healthy", decodeBody(t, rec)["status"])
}

func TestIndexListsEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := decodeBody(t, h.do(t, "GET", "/", "", ""))
	require.Equal(t, "logagg", body["service"])
	require.Contains(t, body["endpoints"], "POST /publish")
	require.Contains(t, body["endpoints"], "GET /events/count")
}

func TestOnlyConfiguredRoutesAreServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.Reader = nil })
	require.Equal(t, 404, h.do(t, "GET", "/stats", "", "").Code)
	require.Equal(t, 202, h.do(t, "POST", "/publish", "", oneEvent).Code)
}

// TestLambdaStubEvents drives the handlers with the API Gateway HTTP API
// (payload v2) events in events/, through the adapter the Lambda functions
// use.
func TestLambdaStubEvents(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		status int
		check  func(t *testing.T, h harness, body string)
	}{
		"publish-single.json": {202, func(t *testing.T, h harness, body string) { require.Equal(t, 1, h.queue.count()) }},
		"publish-batch.json": {202, func(t *testing.T, h harness, body string) {
			require.JSONEq(t, `{"status":"accepted","queued":4}`, body)
		}},
		"publish-invalid.json": {422, func(t *testing.T, h harness, body string) {
			require.Zero(t, h.queue.count())
			require.Contains(t, body, `"index":1`)
		}},
		"query-events.json": {200, func(t *testing.T, h harness, body string) { require.Equal(t, "user.login", h.reader.filter.Topic) }},
		"query-stats.json":  {200, func(t *testing.T, h harness, body string) { require.Contains(t, body, `"unique_processed"`) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
			require.NoError(t, err)
			var req events.APIGatewayV2HTTPRequest
			require.NoError(t, json.Unmarshal(raw, &req))
			h := newHarness(t, func(d *Deps) { d.Limits = event.DefaultLimits(); d.MaxBodyBytes = 6 << 20 })
			resp, err := httpadapter.NewV2(h.srv).ProxyWithContext(context.Background(), req)
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode, resp.Body)
			require.True(t, json.Valid([]byte(resp.Body)), resp.Body)
			tc.check(t, h, resp.Body)
		})
	}
}

func TestPanicsBecomeJSON500(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.srv.handle("GET", "/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	rec := h.do(t, "GET", "/boom", "", "")
	require.Equal(t, 500, rec.Code)
	require.False(t, bytes.Contains(rec.Body.Bytes(), []byte("goroutine")))
}

// order=timestamp reaches the store, its cursor holds the row's timestamp
// (not its processed_at) and carries the order, and the default order
// written out is the same query as none.
func TestEventsOrderByTimestamp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	processed := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	stamped := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 3 {
		h.reader.list = append(h.reader.list, event.StoredEvent{ID: int64(3 - i), ProcessedAt: processed,
			Event: event.Event{Topic: "a", EventID: fmt.Sprint(i), Timestamp: stamped, Payload: json.RawMessage(`{}`)}})
	}
	rec := h.do(t, "GET", "/events?order=timestamp&limit=1", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, event.ByTimestamp, h.reader.filter.Order)
	c := rec.Header().Get(NextCursorHeader)
	require.NotEmpty(t, c)
	require.Contains(t, rec.Header().Get("Link"), "order=timestamp")

	rec = h.do(t, "GET", "/events?cursor="+c, "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, event.ByTimestamp, h.reader.filter.Order)
	require.NotNil(t, h.reader.filter.After)
	require.True(t, h.reader.filter.After.At.Equal(stamped), "the cursor holds the timestamp, got %v", h.reader.filter.After.At)

	// With the same filters but not the order: another query.
	rec = h.do(t, "GET", "/events?topic=a&cursor="+c, "", "")
	require.Equal(t, 400, rec.Code, rec.Body.String())

	rec = h.do(t, "GET", "/events?order=processed&limit=1", "", "")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	require.Equal(t, event.ByProcessed, h.reader.filter.Order)
	rec = h.do(t, "GET", "/events?cursor="+rec.Header().Get(NextCursorHeader), "", "")
	require.Equal(t, 200, rec.Code, "order=processed is the default: the same query as none: %s", rec.Body.String())

	for _, bad := range []string{"order=newest", "order=", "order=timestamp&order=processed"} {
		rec = h.do(t, "GET", "/events?"+bad, "", "")
		require.Equal(t, 400, rec.Code, bad)
	}
}
