package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/stretchr/testify/require"
)

func TestPublishBatchesEveryEvent(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{APIKey: "k1"})
	events, unique := Generate(Plan{Events: 1050, DupRate: 0.3, Seed: 1, RunID: "batches"})
	var progress []int
	res, err := NewClient(fake.URL, "k1").Publish(context.Background(), events, PublishOptions{
		BatchSize:   500,
		Concurrency: 2,
		Progress:    func(sent int) { progress = append(progress, sent) },
	})
	require.NoError(t, err)
	require.Equal(t, 1050, res.Sent)
	require.Equal(t, 3, res.Requests)
	require.Len(t, res.Latencies, 3)
	require.Zero(t, res.Retries)
	require.Positive(t, res.Elapsed)
	require.Len(t, progress, 3)
	require.True(t, slices.IsSorted(progress), "progress only grows: %v", progress)
	require.Equal(t, 1050, progress[2])

	var sizes []int
	var got []string
	for _, req := range fake.Accepted() {
		sizes = append(sizes, len(req))
		for _, e := range req {
			got = append(got, string(e))
		}
	}
	require.ElementsMatch(t, []int{500, 500, 50}, sizes)
	want := make([]string, len(events))
	for i, e := range events {
		want[i] = string(e)
	}
	require.ElementsMatch(t, want, got, "every event arrives once, byte for byte")

	st, err := NewClient(fake.URL, "k1").Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, Stats{
		Received: 1050, UniqueProcessed: int64(unique), DuplicateDropped: int64(1050 - unique),
		Topics: defaultTopics, Published: 1050,
	}, st)
}

func TestPublishRespectsConcurrency(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{1, 3} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		// Requests wait until `concurrency` of them are in flight: a client
		// that sent fewer at once would stall until the deadline.
		fake := loadgentest.New(t, loadgentest.Options{InFlight: loadgentest.Barrier(ctx, concurrency)})
		events, _ := Generate(Plan{Events: 1200, Seed: 2, RunID: "conc"})
		res, err := NewClient(fake.URL, "").Publish(ctx, events, PublishOptions{BatchSize: 100, Concurrency: concurrency})
		require.NoError(t, err)
		require.Equal(t, 12, res.Requests)
		require.Equal(t, concurrency, fake.MaxInFlight(), "concurrency %d", concurrency)
	}
}

func TestPublishUsesFewConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Events []json.RawMessage }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "accepted", "queued": len(body.Events)})
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	events, _ := Generate(Plan{Events: 2000, Seed: 3, RunID: "conns"})
	c := &Client{BaseURL: srv.URL, HTTP: NewHTTPClient(8)}
	res, err := c.Publish(context.Background(), events, PublishOptions{BatchSize: 20, Concurrency: 4})
	require.NoError(t, err)
	require.Equal(t, 100, res.Requests)
	// A connection goes back to the pool a moment after its answer is read,
	// so a few more than Concurrency may be dialled, but never one per request.
	require.Less(t, conns.Load(), int64(res.Requests/4), "connections are reused across requests")
}

func TestPublishRetriesAfterRetryAfter(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			fake := loadgentest.New(t, loadgentest.Options{Intercept: func(attempt, _ int) loadgentest.Reply {
				if attempt <= 2 {
					return loadgentest.Reply{Status: status, RetryAfter: "1", Error: "queue is over its backlog limit"}
				}
				return loadgentest.Reply{}
			}})
			events, _ := Generate(Plan{Events: 10, Seed: 4, RunID: "retry"})
			res, err := NewClient(fake.URL, "").Publish(context.Background(), events, PublishOptions{BatchSize: 10, Concurrency: 1})
			require.NoError(t, err)
			require.Equal(t, 10, res.Sent)
			require.Equal(t, 1, res.Requests)
			require.Equal(t, 2, res.Retries)
			require.Len(t, res.Latencies, 1)

			attempts := fake.Attempts()
			require.Len(t, attempts, 3)
			require.Equal(t, []int{status, status, http.StatusAccepted}, []int{attempts[0].Status, attempts[1].Status, attempts[2].Status})
			for i := 1; i < len(attempts); i++ {
				require.GreaterOrEqual(t, attempts[i].At.Sub(attempts[i-1].At), 900*time.Millisecond,
					"retry %d waited for Retry-After", i)
			}
			require.Equal(t, int64(10), fake.Stats().Published, "only the accepted attempt queued events")
		})
	}
}

func TestPublishStopsWaitingWhenContextEnds(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{Intercept: func(int, int) loadgentest.Reply {
		return loadgentest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "3600", Error: "queue is down"}
	}})
	events, _ := Generate(Plan{Events: 10, Seed: 5, RunID: "ctx"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		res PublishResult
		err error
	}
	done := make(chan outcome, 1)
	answered := make(chan struct{}, 16)
	c := &Client{BaseURL: fake.URL, HTTP: &http.Client{Transport: signalAnswers{http.DefaultTransport, answered}}}
	go func() {
		res, err := c.Publish(ctx, events, PublishOptions{})
		done <- outcome{res, err}
	}()
	<-answered // the client has read the 503 and now waits out an hour-long Retry-After
	cancel()
	out := <-done
	res, err := out.res, out.err
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "queue is down")
	require.Zero(t, res.Sent)
	require.Equal(t, 1, res.Retries)
}

func TestPublishFailsOnClientErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, apiKey, message string
		reply                 loadgentest.Reply
		status                int
	}{
		{name: "malformed", reply: loadgentest.Reply{Status: 400, Error: "malformed JSON at offset 3"}, status: 400, message: "malformed JSON at offset 3"},
		{name: "too large", reply: loadgentest.Reply{Status: 413, Error: "more than 10000 events"}, status: 413, message: "more than 10000 events"},
		{name: "server error", reply: loadgentest.Reply{Status: 500, Error: "internal error"}, status: 500, message: "internal error"},
		{name: "unauthorized", apiKey: "wrong", status: 401, message: "missing or wrong API key: send it as X-API-Key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := loadgentest.New(t, loadgentest.Options{APIKey: "right", Intercept: func(int, int) loadgentest.Reply { return tc.reply }})
			events, _ := Generate(Plan{Events: 100, Seed: 6, RunID: "fail"})
			key := tc.apiKey
			if key == "" {
				key = "right"
			}
			res, err := NewClient(fake.URL, key).Publish(context.Background(), events, PublishOptions{BatchSize: 10, Concurrency: 2})
			var se *StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.status, se.Status)
			require.Equal(t, tc.message, se.Message)
			require.ErrorContains(t, err, "POST /publish")
			require.ErrorContains(t, err, http.StatusText(tc.status))
			require.Zero(t, res.Sent)
			require.Zero(t, res.Retries, "client errors are not retried")
		})
	}
}

func TestPublishFailsWhenNotEverythingIsQueued(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"accepted","queued":1}`))
	}))
	t.Cleanup(srv.Close)
	events, _ := Generate(Plan{Events: 5, Seed: 7, RunID: "short"})
	_, err := NewClient(srv.URL, "").Publish(context.Background(), events, PublishOptions{})
	require.ErrorContains(t, err, "queued 1 of the 5 events")
}

func TestPublishRetriesNetworkErrorsAFewTimes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	events, _ := Generate(Plan{Events: 5, Seed: 8, RunID: "down"})
	res, err := NewClient(url, "").Publish(context.Background(), events, PublishOptions{})
	require.Error(t, err)
	var se *StatusError
	require.False(t, errors.As(err, &se))
	require.Equal(t, maxNetworkRetries, res.Retries)
}

func TestPublishNothing(t *testing.T) {
	t.Parallel()
	res, err := NewClient("http://127.0.0.1:1", "").Publish(context.Background(), nil, PublishOptions{})
	require.NoError(t, err)
	require.Zero(t, res.Requests)
}

func TestEncodeBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch []json.RawMessage
		want  string
	}{
		{nil, `{"events":[]}`},
		{[]json.RawMessage{[]byte(`{"a":1}`)}, `{"events":[{"a":1}]}`},
		{[]json.RawMessage{[]byte(`{"a":1}`), []byte(`{"b":2}`)}, `{"events":[{"a":1},{"b":2}]}`},
	} {
		b := encodeBatch(tc.batch)
		require.Equal(t, tc.want, string(b))
		require.Equal(t, len(b), cap(b), "sized exactly")
	}
}

func TestPacerSpacesRequests(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	p := &pacer{start: start, rate: 1000}
	var got []time.Duration
	for _, n := range []int{500, 500, 250, 100} {
		got = append(got, p.reserve(n).Sub(start))
	}
	require.Equal(t, []time.Duration{0, 500 * time.Millisecond, time.Second, 1250 * time.Millisecond}, got)
}

func TestPacerConcurrentReservationsAreDistinct(t *testing.T) {
	t.Parallel()
	p := &pacer{start: time.Unix(0, 0), rate: 100}
	var mu sync.Mutex
	seen := map[time.Time]bool{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			at := p.reserve(1)
			mu.Lock()
			seen[at] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, seen, 50)
	require.Equal(t, 50, p.reserved)
}

// signalAnswers sends on answered each time the client has read and closed a
// response body.
type signalAnswers struct {
	next     http.RoundTripper
	answered chan<- struct{}
}

func (s signalAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(r)
	if err == nil {
		resp.Body = &signalClose{ReadCloser: resp.Body, answered: s.answered}
	}
	return resp, err
}

type signalClose struct {
	io.ReadCloser
	answered chan<- struct{}
}

func (b *signalClose) Close() error {
	err := b.ReadCloser.Close()
	b.answered <- struct{}{}
	return err
}
