//go:build faults

package faults

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// mountTmpfs mounts a tmpfs of size (like "256m") at dir, which it creates,
// and unmounts it when the test ends, after the cleanups registered later
// (the server that uses it) have run. It needs root.
func mountTmpfs(t *testing.T, dir, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a filesystem of the scenario's own needs root, to mount a tmpfs")
	}
	require.NoError(t, os.MkdirAll(dir, 0o700))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs of %s at %s: %v\n%s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// redisCounter reads one of the queue's counters beside the stream.
func (s *system) redisCounter(name string) int64 {
	n, _ := s.rdb.Get(context.Background(), stream+":"+name).Int64()
	return n
}

// redisMemory is what Redis uses, in bytes.
func (s *system) redisMemory(t *testing.T) int64 {
	t.Helper()
	info, err := s.rdb.InfoMap(context.Background(), "memory").Result()
	require.NoError(t, err)
	n, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	require.NoError(t, err)
	return n
}

// TestRedisOutOfMemory publishes 60,000 events to a replica without
// workers while Redis has a maxmemory of 8 MiB with noeviction, and no
// MAX_BACKLOG: Redis fills up, and /publish must answer 429 with
// Retry-After and queue nothing rather than lose what it accepted. A
// replica with workers then starts while Redis is full — it must find the
// group although Redis refuses XGROUP CREATE — and drains the stream:
// its acknowledgements take the events off the backlog counter although
// Redis is full, trimming frees the entries, and publishing resumes by
// itself. Every accepted event is stored, and the backlog comes back to 0.
func TestRedisOutOfMemory(t *testing.T) {
	const events = 60_000
	const maxmemory = 8 << 20
	s := newSystemOn(t, map[string]string{"MAX_BACKLOG": "0"},
		servers{redis: []string{"--maxmemory", strconv.Itoa(maxmemory), "--maxmemory-policy", "noeviction"}})
	front := s.start("front", map[string]string{"WORKER_COUNT": "0"})
	c := client(front)

	r := publish(c, events, 0.3, 19, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4})
	refusals := func(code string) float64 {
		return metric(t, front, "logagg_http_requests_total", `code="`+code+`",route="/publish"`)
	}
	// Four publishers retrying after Retry-After: 1 s; three rounds of
	// refusals show that Redis stays full, not that it was once.
	filled := eventually(t, time.Minute, "/publish is refused while Redis is full", func() bool { return refusals("429") >= 12 })
	fullAt := struct {
		sent, published, backlog, entries, memory int64
		health                                    int
	}{r.sent.Load(), s.redisCounter("published"), s.redisCounter("backlog"),
		s.rdb.XLen(context.Background(), stream).Val(), s.redisMemory(t), 0}
	fullAt.health, _ = health(front)
	require.Equal(t, fullAt.sent, fullAt.published, "what was accepted is what was queued")
	require.Equal(t, fullAt.published, fullAt.backlog, "nothing consumed yet")
	require.Less(t, fullAt.sent, int64(events), "Redis filled up before everything was published")
	require.Zero(t, refusals("503"), "a full Redis is a full queue (429), not one that is down")

	// A replica with workers starts while Redis is full, and drains it.
	starting := time.Now()
	drainer := s.start("drainer", nil)
	started := time.Since(starting)
	var firstAck struct{ backlog, memory int64 }
	eventually(t, time.Minute, "acknowledgements take events off the backlog", func() bool {
		firstAck.backlog, firstAck.memory = s.redisCounter("backlog"), s.redisMemory(t)
		return firstAck.backlog < fullAt.backlog
	})
	res := r.wait(t)
	resumed := time.Since(starting)
	st := s.requireExact(t, client(front, drainer), want{sent: events, unique: int64(r.unique), keys: keysOf(t, r.events)})
	require.Zero(t, s.redisCounter("backlog"), "the backlog counter came back to zero")
	refused := refusals("429")
	stopAll(t, front, drainer)

	r.logHeadline(t, "Redis out of memory (maxmemory 8 MiB, noeviction, no MAX_BACKLOG)", time.Since(r.start))
	t.Logf("  full %s after the start: %d events accepted and queued, in %d stream entries, Redis using %.1f MiB; /health %d meanwhile",
		filled.Round(time.Millisecond), fullAt.sent, fullAt.entries, float64(fullAt.memory)/(1<<20), fullAt.health)
	t.Logf("  /publish answered 429 with Retry-After %0.f times (503 never), the publisher retried %d requests; a replica with workers started while Redis was full in %s, and publishing had all gone through %s after it started",
		refused, res.Retries, started.Round(time.Millisecond), resumed.Round(time.Millisecond))
	t.Logf("  its first acknowledgements took the backlog from %d to %d events while Redis used %.2f MiB of its %.0f MiB",
		fullAt.backlog, firstAck.backlog, float64(firstAck.memory)/(1<<20), float64(maxmemory)/(1<<20))
	logEnd(t, st)
}
