package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
)

// The harness starts localrun, sees it healthy and stops it with SIGTERM,
// which it answers with exit status 0.
func TestServerStartsAndStops(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./localrun")
	redisURL, prefix := testenv.NewRedisPrefix(t)
	env := []string{"DATABASE_URL=" + testenv.NewDatabase(t), "REDIS_URL=" + redisURL, "STREAM_NAME=" + prefix + "events", "LOG_LEVEL=warn"}
	logPath := filepath.Join(t.TempDir(), "localrun.log")
	srv, err := startServer(bin, env, logPath)
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_, _ = srv.stop(time.Second)
		}
	})
	require.NoError(t, srv.waitHealthy(context.Background(), time.Minute))
	stopped = true
	code, err := srv.stop(time.Minute)
	require.NoError(t, err)
	require.Zero(t, code)
	require.FileExists(t, logPath)
}

// A localrun that cannot start is reported with the end of its log.
func TestServerThatExitsIsNotHealthy(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./localrun")
	srv, err := startServer(bin, []string{"BATCH_SIZE=not-a-number"}, filepath.Join(t.TempDir(), "localrun.log"))
	require.NoError(t, err)
	err = srv.waitHealthy(context.Background(), time.Minute)
	require.ErrorContains(t, err, "exited before it was ready")
	require.ErrorContains(t, err, "BATCH_SIZE", "the log's end says why")
	code, err := srv.stop(time.Second)
	require.Error(t, err)
	require.Equal(t, 1, code)
}

func TestParsePublisherJSON(t *testing.T) {
	t.Parallel()
	out := `{
  "url": "http://127.0.0.1:4000", "run_id": "r", "events": 1000, "unique": 700, "duplicates": 300,
  "batch_size": 500, "concurrency": 4, "requests": 2, "retries": 0,
  "publish_seconds": 0.02, "publish_events_per_sec": 50000, "e2e_seconds": 0.5, "e2e_events_per_sec": 2000,
  "latency_p50_ms": 4.5, "latency_p95_ms": 6, "latency_p99_ms": 7.25,
  "stats_before": {"received": 0}, "stats_after": {"received": 1000, "unique_processed": 700, "duplicate_dropped": 300, "published": 1000}
}
`
	r, err := parsePublisherJSON([]byte(out))
	require.NoError(t, err)
	require.Equal(t, 1000, r.Events)
	require.Equal(t, 700, r.Unique)
	require.Equal(t, 2000.0, *r.E2EEventsPerSec)
	require.Equal(t, 7.25, r.LatencyP99Ms)
	require.Equal(t, int64(700), r.StatsAfter.UniqueProcessed)

	noWait := strings.Replace(strings.Replace(out, `"e2e_seconds": 0.5`, `"e2e_seconds": null`, 1), `"e2e_events_per_sec": 2000`, `"e2e_events_per_sec": null`, 1)
	_, err = parsePublisherJSON([]byte(noWait))
	require.ErrorContains(t, err, "-wait")
	for _, bad := range []string{"", "publisher: connection refused", `{"events": 0}`} {
		_, err := parsePublisherJSON([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestLogTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	require.Empty(t, logTail(path), "no log, no tail")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 5000)+"the end\n"), 0o644))
	tail := logTail(path)
	require.Contains(t, tail, "the end")
	require.Less(t, len(tail), 2200)
}

func TestParsePorcelain(t *testing.T) {
	t.Parallel()
	out := " M localrun/run.go\nM  shared/worker/worker.go\n?? shared/worker/splitter.go\nR  old.go -> new.go\n?? \"with space.go\"\n"
	require.Equal(t, []string{"localrun/run.go", "shared/worker/worker.go", "shared/worker/splitter.go", "new.go", "with space.go"}, parsePorcelain(out))
	require.Empty(t, parsePorcelain(""))
}
