package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// fakeDeadLetters keeps dead letters in memory, oldest first.
type fakeDeadLetters struct {
	mu      sync.Mutex
	letters []event.DeadLetter
	err     error
}

func newFakeDeadLetters(bodies ...string) *fakeDeadLetters {
	f := &fakeDeadLetters{}
	for i, b := range bodies {
		f.letters = append(f.letters, event.DeadLetter{
			ID: int64(i + 1), MessageID: fmt.Sprintf("1700000000000-%d", i), Body: b, Reason: "not JSON", Events: 1,
			CreatedAt: time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC),
		})
	}
	return f
}

func (f *fakeDeadLetters) DeadLetters(_ context.Context, limit int, before int64) ([]event.DeadLetter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := []event.DeadLetter{}
	for i := len(f.letters) - 1; i >= 0 && len(out) < limit; i-- {
		if before <= 0 || f.letters[i].ID < before {
			out = append(out, f.letters[i])
		}
	}
	return out, nil
}

func (f *fakeDeadLetters) ReplayDeadLetters(ctx context.Context, sel event.ReplaySelection, republish event.Republish) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	var picked []int
	for i, d := range f.letters {
		if d.ReplayedAt == nil && (sel.All || slices.Contains(sel.IDs, d.ID)) {
			picked = append(picked, i)
		}
	}
	if len(picked) == 0 {
		return 0, nil
	}
	letters := make([]event.DeadLetter, len(picked))
	for j, i := range picked {
		letters[j] = f.letters[i]
	}
	if err := republish(ctx, letters); err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	for _, i := range picked {
		f.letters[i].ReplayedAt = &now
	}
	return len(picked), nil
}

// withDeadLetters serves the dead letter routes over f.
func withDeadLetters(f *fakeDeadLetters) func(*Deps) {
	return func(d *Deps) { d.DeadLetters = f }
}

func TestDeadLettersPagesWithCursor(t *testing.T) {
	t.Parallel()
	f := newFakeDeadLetters("a", "b", "c", "d", "e")
	h := newHarness(t, withDeadLetters(f))

	var bodies []string
	target := "/deadletters?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		rec := h.do(t, "GET", target, "", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page []event.DeadLetter
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		for _, d := range page {
			bodies = append(bodies, d.Body)
		}
		next := rec.Header().Get(NextCursorHeader)
		if next == "" {
			require.Empty(t, rec.Header().Get("Link"))
			break
		}
		require.Contains(t, rec.Header().Get("Link"), "<deadletters?cursor="+next)
		target = "/deadletters?limit=2&cursor=" + next
	}
	require.Equal(t, []string{"e", "d", "c", "b", "a"}, bodies, "newest first, each once")

	rec := h.do(t, "GET", "/deadletters", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"reason":"not JSON"`)
	require.Contains(t, rec.Body.String(), `"message_id":"1700000000000-0"`)
	require.NotContains(t, rec.Body.String(), "replayed_at", "absent until replayed")
}

func TestDeadLettersQueryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		err    error
		status int
	}{
		{target: "/deadletters?limit=0", status: http.StatusBadRequest},
		{target: "/deadletters?limit=1001", status: http.StatusBadRequest},
		{target: "/deadletters?limit=abc", status: http.StatusBadRequest},
		{target: "/deadletters?cursor=garbage", status: http.StatusBadRequest},
		{target: "/deadletters?%zz", status: http.StatusBadRequest},
		{target: "/deadletters", err: event.Errorf(event.Unavailable, "database unavailable"), status: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			f := newFakeDeadLetters("a")
			f.err = tt.err
			rec := newHarness(t, withDeadLetters(f)).do(t, "GET", tt.target, "", "")
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.NotEmpty(t, decodeBody(t, rec)["error"])
		})
	}
}

func TestReplayRepublishesAndMarks(t *testing.T) {
	t.Parallel()
	f := newFakeDeadLetters("garbage", `[{"topic":"t","event_id":"1"},[{"topic":"t","event_id":"2"}],"x"]`, "third")
	h := newHarness(t, withDeadLetters(f))

	rec := h.do(t, "POST", "/deadletters/replay", "application/json", `{"ids":[2,1,2,99]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"replayed":2}`, rec.Body.String())
	require.Equal(t, [][]byte{
		[]byte("garbage"),
		[]byte(`{"topic":"t","event_id":"1"}`), []byte(`{"topic":"t","event_id":"2"}`), []byte(`"x"`),
	}, h.queue.bodies, "an array body is queued as one message per element")
	require.EqualValues(t, 4, h.queue.published)

	// Replayed ones are not replayed again; all takes the rest.
	rec = h.do(t, "POST", "/deadletters/replay", "application/json", `{"ids":[1]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"replayed":0}`, rec.Body.String())
	rec = h.do(t, "POST", "/deadletters/replay", "application/json", `{"all":true}`)
	require.JSONEq(t, `{"replayed":1}`, rec.Body.String())
	require.Equal(t, "third", string(h.queue.bodies[4]))

	rec = h.do(t, "GET", "/deadletters", "", "")
	require.Equal(t, 3, strings.Count(rec.Body.String(), `"replayed_at":"`))
}

func TestReplayWhenTheQueueRefuses(t *testing.T) {
	t.Parallel()
	for code, status := range map[event.Code]int{
		event.Overloaded:  http.StatusTooManyRequests,
		event.Unavailable: http.StatusServiceUnavailable,
	} {
		f := newFakeDeadLetters("a")
		h := newHarness(t, withDeadLetters(f))
		h.queue.err = event.Errorf(code, "queue says no")
		rec := h.do(t, "POST", "/deadletters/replay", "application/json", `{"all":true}`)
		require.Equal(t, status, rec.Code, rec.Body.String())
		require.NotEmpty(t, rec.Header().Get("Retry-After"))
		require.Nil(t, f.letters[0].ReplayedAt, "not marked replayed")
	}
}

func TestReplayRejectsBadRequests(t *testing.T) {
	t.Parallel()
	tooMany := make([]string, maxReplayIDs+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint(i + 1)
	}
	tests := []struct {
		name, body string
		status     int
	}{
		{"not JSON", `{"ids":`, http.StatusBadRequest},
		{"unknown field", `{"id":[1]}`, http.StatusBadRequest},
		{"IDs not numbers", `{"ids":["a"]}`, http.StatusBadRequest},
		{"two objects", `{"all":true}{"all":true}`, http.StatusBadRequest},
		{"empty", `{}`, http.StatusUnprocessableEntity},
		{"all false", `{"all":false}`, http.StatusUnprocessableEntity},
		{"both", `{"ids":[1],"all":true}`, http.StatusUnprocessableEntity},
		{"ID zero", `{"ids":[0]}`, http.StatusUnprocessableEntity},
		{"too many IDs", `{"ids":[` + strings.Join(tooMany, ",") + `]}`, http.StatusUnprocessableEntity},
		{"too large", `{"ids":[` + strings.Repeat("1,", maxReplayBody/2) + `1]}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeDeadLetters("a")
			h := newHarness(t, withDeadLetters(f))
			rec := h.do(t, "POST", "/deadletters/replay", "application/json", tt.body)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.NotEmpty(t, decodeBody(t, rec)["error"])
			require.Zero(t, h.queue.count())
			require.Nil(t, f.letters[0].ReplayedAt)
		})
	}
}

func TestDeadLetterRoutesNeedTheirDependencies(t *testing.T) {
	t.Parallel()
	paths := newHarness(t, nil).srv.Paths()
	require.NotContains(t, paths, "/deadletters")
	require.NotContains(t, paths, "/deadletters/replay")

	paths = newHarness(t, withDeadLetters(newFakeDeadLetters())).srv.Paths()
	require.Equal(t, []string{"GET"}, paths["/deadletters"])
	require.Equal(t, []string{"POST"}, paths["/deadletters/replay"])

	// Without a publisher to queue them through, dead letters can be read
	// but not replayed.
	paths = newHarness(t, func(d *Deps) {
		d.Publisher = nil
		d.DeadLetters = newFakeDeadLetters()
	}).srv.Paths()
	require.Contains(t, paths, "/deadletters")
	require.NotContains(t, paths, "/deadletters/replay")
}

func TestSplitBodies(t *testing.T) {
	t.Parallel()
	many := make([][]byte, 2*republishBodies+1)
	for i := range many {
		many[i] = []byte("x")
	}
	big := []byte(strings.Repeat("x", republishBytes/2+1))
	tests := []struct {
		name   string
		bodies [][]byte
		sizes  []int
	}{
		{"none", nil, nil},
		{"by count", many, []int{republishBodies, republishBodies, 1}},
		{"by bytes", [][]byte{big, big, big}, []int{1, 1, 1}},
		{"one over the byte limit on its own", [][]byte{make([]byte, 2*republishBytes)}, []int{1}},
	}
	for _, tt := range tests {
		var sizes []int
		total := 0
		for _, p := range splitBodies(tt.bodies) {
			sizes = append(sizes, len(p))
			total += len(p)
		}
		require.Equal(t, tt.sizes, sizes, tt.name)
		require.Equal(t, len(tt.bodies), total, tt.name)
	}
}

// TestDeadLetterResponsesMatchOpenAPI validates the dead letter routes'
// requests and responses against the document.
func TestDeadLetterResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	cases := []struct {
		name         string
		method, path string
		body         string
		mod          func(h harness, f *fakeDeadLetters)
		status       int
		requestValid bool
	}{
		{name: "list full page", method: "GET", path: "/deadletters?limit=1", status: 200, requestValid: true},
		{name: "list replayed", method: "GET", path: "/deadletters",
			mod: func(_ harness, f *fakeDeadLetters) {
				now := time.Now()
				f.letters[0].ReplayedAt = &now
			}, status: 200, requestValid: true},
		{name: "list bad limit", method: "GET", path: "/deadletters?limit=0", status: 400},
		{name: "list bad cursor", method: "GET", path: "/deadletters?cursor=x", status: 400, requestValid: true},
		{name: "list database down", method: "GET", path: "/deadletters",
			mod:    func(_ harness, f *fakeDeadLetters) { f.err = event.Errorf(event.Unavailable, "database unavailable") },
			status: 503, requestValid: true},
		{name: "list without key", method: "GET", path: "/deadletters",
			mod: func(h harness, _ *fakeDeadLetters) { h.srv.deps.APIKeys = []string{"k"} }, status: 401, requestValid: true},
		{name: "replay ids", method: "POST", path: "/deadletters/replay", body: `{"ids":[1,2]}`, status: 200, requestValid: true},
		{name: "replay all", method: "POST", path: "/deadletters/replay", body: `{"all":true}`, status: 200, requestValid: true},
		{name: "replay malformed", method: "POST", path: "/deadletters/replay", body: `{"ids":`, status: 400},
		{name: "replay unknown field", method: "POST", path: "/deadletters/replay", body: `{"id":[1]}`, status: 400},
		{name: "replay neither", method: "POST", path: "/deadletters/replay", body: `{}`, status: 422, requestValid: true},
		{name: "replay ID zero", method: "POST", path: "/deadletters/replay", body: `{"ids":[0]}`, status: 422},
		{name: "replay overloaded", method: "POST", path: "/deadletters/replay", body: `{"all":true}`,
			mod:    func(h harness, _ *fakeDeadLetters) { h.queue.err = event.Errorf(event.Overloaded, "backlog full") },
			status: 429, requestValid: true},
		{name: "replay queue down", method: "POST", path: "/deadletters/replay", body: `{"all":true}`,
			mod: func(h harness, _ *fakeDeadLetters) {
				h.queue.err = event.Errorf(event.Unavailable, "queue unavailable")
			},
			status: 503, requestValid: true},
		{name: "replay too large", method: "POST", path: "/deadletters/replay",
			body: `{"ids":[` + strings.Repeat("1,", maxReplayBody/2) + `1]}`, status: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeDeadLetters("not json", `[{"topic":"t"}]`)
			h := newHarness(t, withDeadLetters(f))
			if tc.mod != nil {
				tc.mod(h, f)
			}
			rec := h.do(t, tc.method, tc.path, "application/json", tc.body)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			validateExchange(t, doc, tc.method, tc.path, "application/json", tc.body, rec, tc.requestValid)
		})
	}
}

// Replay takes JSON only: without a Content-Type (a no-cors fetch of a Blob
// from another site sends none) or with another one, nothing is replayed.
func TestReplayRequiresAJSONContentType(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for ctype, message := range map[string]string{
		"":                                  "no Content-Type: send the JSON body with the header 'Content-Type: application/json'",
		"text/plain;charset=UTF-8":          "'Content-Type: application/json'",
		"application/x-www-form-urlencoded": "curl -d sends application/x-www-form-urlencoded",
	} {
		f := newFakeDeadLetters("not json")
		h := newHarness(t, withDeadLetters(f))
		rec := h.do(t, "POST", "/deadletters/replay", ctype, `{"all":true}`)
		require.Equal(t, http.StatusUnsupportedMediaType, rec.Code, ctype)
		require.Contains(t, decodeBody(t, rec)["error"], message)
		require.Nil(t, f.letters[0].ReplayedAt, "%q: nothing replayed", ctype)
		validateExchange(t, doc, "POST", "/deadletters/replay", ctype, `{"all":true}`, rec, false)
	}
	h := newHarness(t, withDeadLetters(newFakeDeadLetters("not json")))
	rec := h.do(t, "POST", "/deadletters/replay", "application/json; charset=utf-8", `{"all":true}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}
