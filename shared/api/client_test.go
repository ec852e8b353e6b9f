package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/shared/event"
)

// codeRecorder records the status of every request, as the metrics see it.
type codeRecorder struct {
	mu         sync.Mutex
	codes      []string // "route code"
	rejections int      // OTLP log records refused
}

func (o *codeRecorder) ObserveRequest(route string, code int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes = append(o.codes, fmt.Sprintf("%s %d", route, code))
}

func (o *codeRecorder) ObservePublished(string, int) {}

func (o *codeRecorder) ObserveOTLPRejected(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejections += n
}

func (o *codeRecorder) rejected() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rejections
}

func (o *codeRecorder) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.codes...)
}

// withLogs sends the server's logs, debug included, to the returned buffer.
func withLogs(d *Deps) *proc.Buffer {
	logs := &proc.Buffer{}
	d.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return logs
}

// observedHarness is a harness whose requests are recorded as the metrics
// see them, and whose logs, debug included, are kept.
func observedHarness(t *testing.T, mod func(*Deps)) (harness, *codeRecorder, *proc.Buffer) {
	t.Helper()
	obs := &codeRecorder{}
	var logs *proc.Buffer
	h := newHarness(t, func(d *Deps) {
		logs, d.Observer = withLogs(d), obs
		if mod != nil {
			mod(d)
		}
	})
	return h, obs, logs
}

// doCanceled serves a request whose client has gone away: Go's server
// cancels the request's context when the connection closes.
func doCanceled(h harness, method, target, body string) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(method, target, strings.NewReader(body)).WithContext(ctx)
	h.srv.ServeHTTP(httptest.NewRecorder(), req)
}

// A client that leaves (or half-closes) while it is being served is not a
// failure of the server: no 5xx in the metrics, nothing above debug in the
// logs, and for /health no dependency reported down.
func TestAClientThatLeavesIsNotAnOutage(t *testing.T) {
	t.Parallel()
	pingCtx := func(ctx context.Context) error { return ctx.Err() }
	cases := []struct {
		name         string
		mod          func(h harness)
		method, path string
		body         string
	}{
		{name: "health", method: "GET", path: "/health"},
		{name: "events, database client canceled", method: "GET", path: "/events",
			mod: func(h harness) {
				h.reader.err = event.Wrap(event.Unavailable, fmt.Errorf("query: %w", context.Canceled), "the database is unavailable")
			}},
		{name: "stats, canceled", method: "GET", path: "/stats", mod: func(h harness) { h.reader.err = context.Canceled }},
		{name: "publish", method: "POST", path: "/publish", body: oneEvent,
			mod: func(h harness) { h.queue.err = fmt.Errorf("redis: %w", context.Canceled) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, obs, logs := observedHarness(t, func(d *Deps) {
				d.Checks = []Check{{Name: "database", Ping: pingCtx}, {Name: "redis", Ping: pingCtx}}
			})
			if tc.mod != nil {
				tc.mod(h)
			}
			doCanceled(h, tc.method, tc.path, tc.body)
			require.Equal(t, []string{fmt.Sprintf("%s %d", tc.path, statusClientClosed)}, obs.all())
			require.Contains(t, logs.String(), `"level":"DEBUG","msg":"client went away"`)
			for _, level := range []string{"INFO", "WARN", "ERROR"} {
				require.NotContains(t, logs.String(), `"level":"`+level+`"`)
			}
		})
	}
}

// The health check's own timeout is not the client leaving: a dependency
// that does not answer in time is reported down.
func TestHealthTimeoutIsStillAnOutage(t *testing.T) {
	t.Parallel()
	h, obs, logs := observedHarness(t, func(d *Deps) {
		d.Checks = append(d.Checks, Check{Name: "redis", Ping: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}})
	})
	rec := h.do(t, "GET", "/health", "", "")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, map[string]any{"status": "unhealthy", "database": "connected", "redis": "disconnected"}, decodeBody(t, rec))
	require.Equal(t, []string{"/health 503"}, obs.all())
	require.Contains(t, logs.String(), `"level":"WARN","msg":"health check failed","dependency":"redis"`)
}

// A client that closes the connection in the middle of its body is gone
// too; a body that is merely malformed is the client's error (400).
func TestBodyCutShortByTheClient(t *testing.T) {
	t.Parallel()
	h, obs, logs := observedHarness(t, nil)
	p := startPipeRequest(t, h, 1000)
	_, err := io.WriteString(p.body, `[`+oneEvent)
	require.NoError(t, err)
	p.body.CloseWithError(io.ErrUnexpectedEOF)
	<-p.done
	require.Equal(t, []string{"/publish 499"}, obs.all())
	require.Contains(t, logs.String(), `"level":"DEBUG","msg":"client went away","while":"reading the request body"`)
	require.Zero(t, h.queue.count())

	p = startPipeRequest(t, h, -1)
	_ = p.finish(t, "[")
	require.Equal(t, http.StatusBadRequest, p.rec.Code)
	require.NotContains(t, logs.String(), `"level":"ERROR"`)
}
