//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// TestBackpressure fills the queue of a replica that has no workers up to
// MAX_BACKLOG: /publish must answer 429 with Retry-After instead of letting
// the stream grow, and resume once a second replica with workers drains
// the backlog. The events waiting never exceed MAX_BACKLOG (nor, so, the
// stream's entries, each of which holds one event or more), and trimming
// never drops an entry that was not consumed: every event arrives.
func TestBackpressure(t *testing.T) {
	const backlog = 5_000
	const events = 30_000
	ctx := context.Background()
	s := newSystem(t, map[string]string{"MAX_BACKLOG": "5000"})
	front := s.start("front", map[string]string{"WORKER_COUNT": "0"})

	// Fill the queue: ten requests of 500 fit, the eleventh does not.
	all, unique := loadgen.Generate(loadgen.Plan{Events: events, DupRate: 0.3, Seed: 17})
	post := func(batch []json.RawMessage) *http.Response {
		body, _ := json.Marshal(map[string]any{"events": batch})
		resp, err := http.Post(front.url+"/publish", "application/json", strings.NewReader(string(body)))
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	for i := range backlog / 500 {
		require.Equal(t, http.StatusAccepted, post(all[i*500:(i+1)*500]).StatusCode)
	}
	resp := post(all[backlog : backlog+500])
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	waiting := func() int64 { n, _ := s.rdb.Get(ctx, stream+":backlog").Int64(); return n }
	require.Equal(t, int64(backlog), waiting(), "the queue holds the first %d events", backlog)
	require.LessOrEqual(t, s.rdb.XLen(ctx, stream).Val(), int64(backlog))

	// Publish the rest while the queue is full; watch the events waiting
	// and the stream's length.
	var longest, most atomic.Int64
	watching, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watching.Err() == nil {
			longest.Store(max(longest.Load(), s.rdb.XLen(ctx, stream).Val()))
			most.Store(max(most.Load(), waiting()))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	c := client(front)
	rest := &run{events: all[backlog:], start: time.Now(), done: make(chan struct{})}
	go func() {
		defer close(rest.done)
		rest.res, rest.err = c.Publish(ctx, rest.events, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4})
	}()
	// Four publishers retrying after Retry-After: 1 s; three rounds of
	// refusals show the limit holds, not just once.
	refused := eventually(t, time.Minute, "the publisher is refused for a while", func() bool {
		return metric(t, front, "logagg_http_requests_total", `code="429",route="/publish"`) >= 13
	})
	require.Zero(t, stats(c).Received, "nothing consumed without workers")

	// A replica with workers drains the queue; publishing resumes.
	drainer := s.start("drainer", nil)
	res := rest.wait(t)
	st := s.requireExact(t, client(front, drainer), want{sent: events, unique: int64(unique), keys: keysOf(t, all)})
	stopWatching()
	<-watched
	took := time.Since(rest.start)
	refusals := metric(t, front, "logagg_http_requests_total", `code="429",route="/publish"`)
	require.LessOrEqual(t, most.Load(), int64(backlog), "the events waiting never exceeded MAX_BACKLOG")
	require.LessOrEqual(t, longest.Load(), int64(backlog), "the stream never outgrew MAX_BACKLOG")
	stopAll(t, front, drainer)

	t.Logf("backpressure: MAX_BACKLOG %d, %d events (%d unique); the first %d filled the queue of a replica without workers, the next request got 429 with Retry-After: 1",
		backlog, events, unique, backlog)
	t.Logf("  the other %d were published under backpressure in %s: %0.f answers 429 (%d requests retried), refused for %s until a replica with workers started; events waiting never above %d, stream length never above %d",
		events-backlog, took.Round(time.Millisecond), refusals, res.Retries, refused.Round(time.Millisecond), most.Load(), longest.Load())
	logEnd(t, st)
}
