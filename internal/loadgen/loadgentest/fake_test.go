package loadgentest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func post(t *testing.T, s *Server, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/publish", strings.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func stats(t *testing.T, s *Server, key string) Stats {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+"/stats", nil)
	require.NoError(t, err)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func TestFakeValidatesEvents(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	for _, tc := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"events":[`, 400, "malformed JSON"},
		{`{"events":[]}`, 422, "no events"},
		{`{"events":[{"topic":"t","event_id":"1","timestamp":"2026-01-01T00:00:00","source":"s"}]}`, 422, "timestamp"},
		{`{"events":[{"topic":"","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"}]}`, 422, "topic must be 1–255 characters"},
		{`{"events":[{"topic":"t","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s","payload":[1]}]}`, 422, "payload must be a JSON object"},
		{`{"events":[{"topic":"t","event_id":"a\u0000","timestamp":"2026-01-01T00:00:00Z","source":"s"}]}`, 422, "NUL"},
		{`{"events":[{"topic":"t","event_id":"1","timestamp":"2026-01-01T00:00:00+07:00","source":"s"}]}`, 202, `"queued":1`},
	} {
		status, body := post(t, s, "", tc.body)
		require.Equal(t, tc.status, status, tc.body)
		require.Contains(t, body, tc.msg)
	}
	require.Len(t, s.Attempts(), 7)
	require.Len(t, s.Accepted(), 1)
}

func TestFakeCountsLikeTheService(t *testing.T) {
	t.Parallel()
	s := New(t, Options{APIKey: "k", DrainPerPoll: 2})
	status, _ := post(t, s, "wrong", `{"events":[]}`)
	require.Equal(t, http.StatusUnauthorized, status)

	const ev = `{"topic":"%s","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s","payload":%s}`
	body := `{"events":[` + strings.Join([]string{
		fmt.Sprintf(ev, "a", `{"x":1}`),
		fmt.Sprintf(ev, "a", `{ "x" : 1 }`), // same payload, other spelling
		fmt.Sprintf(ev, "a", `{"x":2}`),     // conflict
		fmt.Sprintf(ev, "b", `{"x":1}`),     // same id, other topic
	}, ",") + `]}`
	status, _ = post(t, s, "k", body)
	require.Equal(t, http.StatusAccepted, status)
	require.Equal(t, Stats{Published: 4, Queued: 4, Status: "healthy"}, zeroUptime(s.Stats()))

	first := stats(t, s, "k")
	require.Equal(t, int64(2), first.Received, "each read consumes DrainPerPoll events")
	require.Equal(t, int64(2), first.Queued)
	second := stats(t, s, "k")
	require.Equal(t, Stats{
		Received: 4, UniqueProcessed: 2, DuplicateDropped: 2, Topics: 2, Status: "healthy",
		Published: 4, PayloadConflicts: 1,
	}, zeroUptime(second))
	require.Equal(t, second.Received, second.UniqueProcessed+second.DuplicateDropped)
}

func zeroUptime(s Stats) Stats {
	s.UptimeSeconds = 0
	return s
}

// Clients map a 422 back to the event concerned through details, as they
// do with logagg's answers.
func TestFakeNamesTheRefusedEventInDetails(t *testing.T) {
	t.Parallel()
	s := New(t, Options{})
	status, body := post(t, s, "", `{"events":[
		{"topic":"t","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"},
		{"topic":"t","event_id":"2","timestamp":"yesterday","source":"s"}]}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	require.JSONEq(t, `[{"index":1,"field":"timestamp","message":"timestamp: parsing time \"yesterday\" as \"2006-01-02T15:04:05.999999999Z07:00\": cannot parse \"yesterday\" as \"2006\""}]`,
		detailsOf(t, body))
}

func detailsOf(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Details json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	return string(e.Details)
}
