//go:build faults

package faults

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

func redisDown(code int, body map[string]string) bool {
	return code == http.StatusServiceUnavailable && body["status"] == "unhealthy" &&
		body["redis"] == "disconnected" && body["database"] == "connected"
}

// logLines counts the lines of a replica's log that contain msg.
func logLines(r *replica, msg string) int {
	return strings.Count(r.proc.Output(), `"msg":"`+msg)
}

// holdCounters locks the counter shards against the consumers' updates
// until the returned function is called.
func holdCounters(t *testing.T, s *system) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.pg.URL())
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE stats_shards IN EXCLUSIVE MODE")
	require.NoError(t, err)
	var once sync.Once
	release = func() {
		once.Do(func() {
			require.NoError(t, tx.Commit(ctx))
			require.NoError(t, conn.Close(ctx))
		})
	}
	t.Cleanup(release)
	return release
}

// lockWaiters counts the sessions that wait for a lock on the counter
// shards.
func lockWaiters(t *testing.T, s *system) int64 {
	t.Helper()
	return s.count(t, "SELECT count(*) FROM pg_locks WHERE relation = 'stats_shards'::regclass AND NOT granted")
}

// TestRedisRestartMidRun kills Redis with SIGKILL while 100,000 events are
// published and consumed by two replicas, keeps it down for a few seconds,
// and starts it again from its append-only file (appendfsync always). Every
// publish Redis acknowledged is in the file; /publish answers 503 with
// Retry-After meanwhile and the publisher retries; batches that committed
// while their acknowledgement could not reach Redis (held at the counters
// until Redis froze, so that there are some) are redelivered and
// recognised by the ledger.
func TestRedisRestartMidRun(t *testing.T) {
	const events = 100_000
	const outage = 3 * time.Second
	s, a, b, c := startTwo(t, nil)

	r := publish(c, events, 0.3, 15, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 30_000})
	eventually(t, 2*time.Minute, "a third of the events published", func() bool { return r.sent.Load() >= events/3 })

	// Hold the consume transactions at the counters, so that batches are in
	// flight when Redis freezes; released, they commit and then find Redis
	// gone when they acknowledge. Then kill it.
	release := holdCounters(t, s)
	eventually(t, 30*time.Second, "a consume transaction waits at the counters", func() bool { return lockWaiters(t, s) > 0 })
	atKill := stats(c)
	require.NoError(t, freeze(s.redis.proc))
	release()
	eventually(t, 30*time.Second, "the held transactions went past the counters", func() bool { return lockWaiters(t, s) == 0 })
	s.redis.Kill()
	killed := time.Now()
	noticed := waitHealth(t, "/health reports Redis down", redisDown, a, b)
	time.Sleep(outage - time.Since(killed))
	s.redis.Start()
	restarted := time.Now()
	recovered := waitHealth(t, "/health reports healthy again", healthy, a, b)
	publishedAfter := stats(c).Published
	require.GreaterOrEqual(t, publishedAfter, atKill.Published, "the published count survived the restart")

	res := r.wait(t)
	require.Positive(t, res.Retries, "the publisher retried while Redis was down")
	st := s.requireExact(t, c, want{sent: events, resent: true, unique: int64(r.unique), keys: keysOf(t, r.events)})
	resumed := time.Since(restarted)
	took := time.Since(r.start)
	var unavailable, failedAcks, failedReceives float64
	for _, rep := range []*replica{a, b} {
		unavailable += metric(t, rep, "logagg_http_requests_total", `code="503",route="/publish"`)
		failedAcks += float64(logLines(rep, "acknowledge failed"))
		failedReceives += float64(logLines(rep, "receive failed"))
	}
	require.Positive(t, unavailable, "/publish answered 503 while Redis was down")
	require.Positive(t, failedAcks, "batches committed while Redis was frozen could not be acknowledged")
	stopAll(t, a, b)

	r.logHeadline(t, "Redis SIGKILL and restart from AOF (appendfsync always) mid-run, publishing at up to 30,000 events/s", took)
	t.Logf("  frozen, then killed, at %d published, %d/%d received; /health said redis disconnected after %s; down %s; healthy %s after the restart, drained %s after it",
		atKill.Published, atKill.Received, events, noticed.Round(time.Millisecond), outage, recovered.Round(time.Millisecond), resumed.Round(time.Millisecond))
	t.Logf("  /publish answered 503 %0.f times, the publisher retried %d requests; %0.f acknowledgements and %0.f receives failed and were retried",
		unavailable, res.Retries, failedAcks, failedReceives)
	t.Logf("  end: published %d (%d sent twice after a lost answer), received %d = unique %d + duplicates %d, dead_lettered %d, XPENDING 0",
		st.Published, st.Published-events, st.Received, st.UniqueProcessed, st.DuplicateDropped, st.DeadLettered)
}
