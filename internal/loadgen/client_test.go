package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/stretchr/testify/require"
)

func TestStatsReadsEveryCounter(t *testing.T) {
	t.Parallel()
	var path, key atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		key.Store(r.Header.Get("X-API-Key"))
		_, _ = w.Write([]byte(`{"received":10,"unique_processed":7,"duplicate_dropped":3,"topics":2,
			"uptime_seconds":1.5,"status":"running","published":12,"queued":1,"dead_lettered":1,"payload_conflicts":1}`))
	}))
	t.Cleanup(srv.Close)
	st, err := NewClient(srv.URL+"/", "secret").Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, "/stats", path.Load())
	require.Equal(t, "secret", key.Load())
	require.Equal(t, Stats{Received: 10, UniqueProcessed: 7, DuplicateDropped: 3, Topics: 2, Published: 12, Queued: 1, DeadLettered: 1, PayloadConflicts: 1}, st)
}

func TestStatsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, wantErr string
		status              int
	}{
		{name: "json error", status: 401, body: `{"error":"missing API key"}`, wantErr: "GET /stats: 401 Unauthorized: missing API key"},
		{name: "text error", status: 502, body: "bad gateway\n", wantErr: "GET /stats: 502 Bad Gateway: bad gateway"},
		{name: "no body", status: 500, wantErr: "GET /stats: 500 Internal Server Error"},
		{name: "not json", status: 200, body: "<html>", wantErr: "GET /stats: reading the answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			_, err := NewClient(srv.URL, "").Stats(context.Background())
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "got %q", err)
		})
	}
}

func TestWaitForPollsUntilTheConditionHolds(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{DrainPerPoll: 100})
	c := NewClient(fake.URL, "")
	events, unique := Generate(Plan{Events: 1000, DupRate: 0.5, Seed: 1, RunID: "wait"})
	_, err := c.Publish(context.Background(), events, PublishOptions{})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	polls := 0
	st, took, err := c.WaitFor(ctx, func(s Stats) bool {
		polls++
		return s.Received+s.DeadLettered >= 1000
	})
	require.NoError(t, err)
	require.Equal(t, 10, polls, "each poll drains 100 events")
	require.Equal(t, int64(1000), st.Received)
	require.Equal(t, int64(unique), st.UniqueProcessed)
	require.Equal(t, int64(500), st.DuplicateDropped)
	require.Zero(t, st.Queued)
	require.Positive(t, took)
}

func TestWaitForRidesOutTemporaryErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"database is down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"received":5}`))
	}))
	t.Cleanup(srv.Close)
	st, _, err := NewClient(srv.URL, "").WaitFor(context.Background(), func(s Stats) bool { return s.Received == 5 })
	require.NoError(t, err)
	require.Equal(t, int64(5), st.Received)
	require.Equal(t, int64(4), calls.Load())
}

func TestWaitForStopsOnRefusal(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{APIKey: "right"})
	_, _, err := NewClient(fake.URL, "wrong").WaitFor(context.Background(), func(Stats) bool { return true })
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.Status)
}

func TestWaitForGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	polls := 0
	st, _, err := NewClient(fake.URL, "").WaitFor(ctx, func(s Stats) bool {
		polls++
		return false
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "waiting for /stats")
	require.Positive(t, polls)
	require.Equal(t, Stats{}, st)
}

func TestWaitForReportsTheLastError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"database is down"}`))
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := NewClient(srv.URL, "").WaitFor(ctx, func(Stats) bool { return true })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "database is down")
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		require.Equal(t, tc.want, parseRetryAfter(tc.header, now), "Retry-After: %q", tc.header)
	}
}
