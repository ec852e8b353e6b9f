//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// queueCounters reads the events published and the backlog at one
// instant.
func (s *system) queueCounters(t *testing.T) (published, backlog int64) {
	t.Helper()
	v, err := s.rdb.MGet(context.Background(), stream+":published", stream+":backlog").Result()
	require.NoError(t, err)
	n := func(x any) int64 { i, _ := strconv.ParseInt(fmt.Sprint(x), 10, 64); return i }
	return n(v[0]), n(v[1])
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
	var fullAt struct {
		sent, published, backlog, entries, memory int64
		health                                    int
	}
	// What the publisher was told was accepted is what was queued, once the
	// answers in flight have arrived.
	eventually(t, 10*time.Second, "the events accepted are the events queued", func() bool {
		fullAt.published, fullAt.backlog = s.queueCounters(t)
		fullAt.sent = r.sent.Load()
		return fullAt.sent == fullAt.published
	})
	fullAt.entries, fullAt.memory = s.rdb.XLen(context.Background(), stream).Val(), s.redisMemory(t)
	fullAt.health, _ = health(front)
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

// fill appends to the file at path until its filesystem is full, and
// returns how many bytes it wrote.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer f.Close()
	chunk := make([]byte, 1<<20)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC, "the filesystem filled up")
			return size
		}
	}
}

// exhaustWAL writes a WAL record and switches to the next WAL segment
// until PostgreSQL cannot create one and stops (PANIC): a full disk that
// only refused table extensions so far reaches the WAL. Whatever space
// PostgreSQL frees meanwhile (old segments removed at a checkpoint) is
// filled again. It returns the error the session ended with.
func (p *postgres) exhaustWAL(t *testing.T, ballast string) error {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	for range 64 {
		fill(t, ballast)
		if _, err := conn.Exec(ctx, "SELECT pg_logical_emit_message(false, 'logagg-faults', 'wal'); SELECT pg_switch_wal()"); err != nil {
			return err
		}
	}
	t.Fatal("PostgreSQL switched to 64 new WAL segments on a full disk")
	return nil
}

// running reports whether the cluster's postmaster runs.
func (p *postgres) running() bool {
	return p.command("pg_ctl", "status", "-D", p.data()).Run() == nil
}

// serverErrors counts the ERROR, FATAL and PANIC lines of the cluster's
// log by SQLSTATE and level (the log line prefix is "%e/"), with the
// first message of each, leaving out the consume transaction's own
// redelivery signal (LG001).
func (p *postgres) serverErrors(t *testing.T) map[string]serverError {
	t.Helper()
	log, err := os.ReadFile(p.log())
	require.NoError(t, err)
	seen := map[string]serverError{}
	for _, m := range serverErrorLine.FindAllStringSubmatch(string(log), -1) {
		if m[1] == "LG001" {
			continue
		}
		k := m[1] + " " + m[2]
		e := seen[k]
		if e.count == 0 {
			e.first = m[3]
		}
		e.count++
		seen[k] = e
	}
	return seen
}

type serverError struct {
	count int
	first string
}

var serverErrorLine = regexp.MustCompile(`(?m)^([0-9A-Z]{5})/(ERROR|FATAL|PANIC):  (.*)$`)

// TestPostgresOutOfDisk gives PostgreSQL's data directory a tmpfs of
// 256 MiB and, while two replicas publish and consume 100,000 events,
// fills it with a file. PostgreSQL first refuses to extend tables
// (SQLSTATE 53100, disk_full); then the test makes it need a new WAL
// segment, which it cannot create, and it stops (PANIC), as a server whose
// WAL disk is full does. The consumers must take neither for a fault of
// the data — nothing is dead-lettered — and back off until the file is
// removed and PostgreSQL is back: restarted by hand, as an operator would,
// if it did not recover by itself. Everything is committed in the end.
func TestPostgresOutOfDisk(t *testing.T) {
	const events = 100_000
	const tablesFull = 3 * time.Second // only tables cannot grow
	const walFullFor = 3 * time.Second // the WAL cannot either
	s := newSystemOn(t, nil, servers{pg: pgOptions{filesystem: "256m", settings: map[string]string{
		"max_wal_size": "48MB", "min_wal_size": "32MB", "log_line_prefix": "%e/", "log_min_error_statement": "panic",
	}}})
	a, b := s.start("a", nil), s.start("b", nil)
	c := client(a, b)

	r := publish(c, events, 0.3, 21, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 15_000})
	eventually(t, 2*time.Minute, "a quarter of the events received", func() bool { return stats(c).Received >= events/4 })

	atFill := stats(c)
	ballast := filepath.Join(s.pg.dataDir, "ballast")
	size := fill(t, ballast)
	filled := time.Now()
	sentAtFill := r.sent.Load()
	failedBatches := func() float64 {
		return metric(t, a, "logagg_consume_batches_total", `outcome="failed"`) + metric(t, b, "logagg_consume_batches_total", `outcome="failed"`)
	}
	noticed := eventually(t, time.Minute, "consume batches fail", func() bool { return failedBatches() > 0 })
	time.Sleep(tablesFull - time.Since(filled))
	failedOnTables := failedBatches()

	walErr := s.pg.exhaustWAL(t, ballast)
	walFull := time.Now()
	waitHealth(t, "/health reports the database down", databaseDown, a, b)
	require.True(t, readsUnavailable(t, a, b), "every read answers 503 with Retry-After while PostgreSQL cannot start a session")
	time.Sleep(walFullFor - time.Since(walFull))
	held := s.pendingOf(append(a.consumers(), b.consumers()...)...)
	sentWhileFull := r.sent.Load() - sentAtFill
	failedWhileFull := failedBatches()
	stoppedByItself := !s.pg.running()

	require.NoError(t, os.Remove(ballast))
	freed := time.Now()
	restarted := false
	recovered := waitHealth(t, "/health reports healthy again", func(code int, body map[string]string) bool {
		if !s.pg.running() {
			s.pg.Start() // as an operator would, once there is room again
			restarted = true
		}
		return healthy(code, body)
	}, a, b)

	res := r.wait(t)
	st := s.requireExact(t, c, want{sent: events, unique: int64(r.unique), keys: keysOf(t, r.events)})
	drained := time.Since(freed)
	took := time.Since(r.start)
	require.Positive(t, sentWhileFull, "/publish accepted events while the disk was full")
	stopAll(t, a, b)

	r.logHeadline(t, "PostgreSQL out of disk (data directory on a 256 MiB tmpfs, filled mid-run), publishing at up to 15,000 events/s", took)
	t.Logf("  filled with a %d MiB file at %d/%d received; the first batch failed %s after; tables full for %s (%.0f batches failed), then the WAL: %v",
		size>>20, atFill.Received, events, noticed.Round(time.Millisecond), tablesFull, failedOnTables, walErr)
	t.Logf("  full for %s in all; PostgreSQL had stopped by itself: %v, restarted by hand: %v; meanwhile /publish accepted %d events, consumers held %d messages (highest delivery count %d), %.0f batches failed and were retried, %d publish retries",
		freed.Sub(filled).Round(time.Millisecond), stoppedByItself, restarted, sentWhileFull, len(held), maxDeliveries(held), failedWhileFull, res.Retries)
	t.Logf("  healthy %s after the file was removed (%s after the WAL filled), drained %s after it",
		recovered.Round(time.Millisecond), freed.Sub(walFull).Round(time.Millisecond), drained.Round(time.Millisecond))
	errs := s.pg.serverErrors(t)
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		t.Logf("  PostgreSQL said %s ×%d, first: %s", k, errs[k].count, errs[k].first)
	}
	logEnd(t, st)
}

// readRoutes are the API's reads of the database.
var readRoutes = []string{"/events", "/events/count", "/stats", "/topics"}

// readsUnavailable reports whether each read of the API answers 503 with
// Retry-After on every replica.
func readsUnavailable(t *testing.T, replicas ...*replica) bool {
	t.Helper()
	for _, r := range replicas {
		for _, route := range readRoutes {
			resp, err := http.Get(r.url + route)
			require.NoError(t, err)
			var body struct{ Error string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || body.Error == "" {
				return false
			}
		}
	}
	return true
}

// takeConnections takes every connection slot of the cluster for the
// test's own idle sessions, and ends the sessions of the clients whose
// application_name is victims: they get them back only once release is
// called. A client that reconnects between the two finds its session
// ended again, until none is left and the cluster turns new connections
// away (SQLSTATE 53300, too_many_connections). It returns how many
// sessions it holds.
func takeConnections(t *testing.T, p *postgres, victims string) (held int, release func()) {
	t.Helper()
	ctx := context.Background()
	connect := func(name string) (*pgx.Conn, error) {
		return pgx.Connect(ctx, p.URL()+"&application_name="+name)
	}
	control, err := connect("faults-control")
	require.NoError(t, err)
	var hogs []*pgx.Conn
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, c := range append(hogs, control) {
				_ = c.Close(ctx)
			}
		})
	}
	t.Cleanup(release)
	eventually(t, 30*time.Second, "every connection slot is taken and no "+victims+" session is left", func() bool {
		var ended int64
		require.NoError(t, control.QueryRow(ctx,
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", victims).Scan(&ended))
		for {
			c, err := connect("faults-hog")
			if err != nil {
				var pgErr *pgconn.PgError
				require.ErrorAs(t, err, &pgErr, "refused by the server: %v", err)
				require.Equal(t, "53300", pgErr.Code, "too_many_connections: %v", err)
				break
			}
			hogs = append(hogs, c)
		}
		var left int64
		require.NoError(t, control.QueryRow(ctx,
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", victims).Scan(&left))
		return ended == 0 && left == 0
	})
	return len(hogs) + 1, release
}

// TestPostgresOutOfConnections lets other clients take every one of
// PostgreSQL's max_connections (40) while two replicas publish and consume
// 100,000 events, and ends the replicas' sessions so that they must
// connect again, which the server refuses (53300) for several seconds. The
// reads must answer 503 with Retry-After, /health must name the database,
// /publish must keep accepting, and the consumers must retry until the
// connections come back, losing and dead-lettering nothing.
func TestPostgresOutOfConnections(t *testing.T) {
	const events = 100_000
	const outage = 5 * time.Second
	s := newSystemOn(t, nil, servers{pg: pgOptions{settings: map[string]string{"max_connections": "40"}}})
	s.env["DATABASE_URL"] = s.pg.URL() + "&application_name=logagg"
	a, b := s.start("a", nil), s.start("b", nil)
	c := client(a, b)

	r := publish(c, events, 0.3, 23, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 15_000})
	eventually(t, 2*time.Minute, "a quarter of the events received", func() bool { return stats(c).Received >= events/4 })

	atTake := stats(c)
	taking := time.Now()
	sessions, release := takeConnections(t, s.pg, "logagg")
	took := time.Since(taking)
	taken := time.Now()
	sentAtTake := r.sent.Load()
	noticed := waitHealth(t, "/health reports the database down", databaseDown, a, b)
	require.True(t, readsUnavailable(t, a, b), "every read answers 503 with Retry-After")
	time.Sleep(outage - time.Since(taken))
	require.True(t, readsUnavailable(t, a, b), "every read still answers 503 with Retry-After")
	held := s.pendingOf(append(a.consumers(), b.consumers()...)...)
	sentInOutage := r.sent.Load() - sentAtTake
	failedBatches := metric(t, a, "logagg_consume_batches_total", `outcome="failed"`) +
		metric(t, b, "logagg_consume_batches_total", `outcome="failed"`)
	var unavailable float64
	for _, rep := range []*replica{a, b} {
		for _, route := range readRoutes {
			unavailable += metric(t, rep, "logagg_http_requests_total", `code="503",route="`+route+`"`)
		}
	}

	release()
	released := time.Now()
	recovered := waitHealth(t, "/health reports healthy again", healthy, a, b)
	res := r.wait(t)
	st := s.requireExact(t, c, want{sent: events, unique: int64(r.unique), keys: keysOf(t, r.events)})
	drained := time.Since(released)
	require.Positive(t, sentInOutage, "/publish accepted events while the database refused connections")
	require.Positive(t, failedBatches, "batches failed while the database refused connections")
	stopAll(t, a, b)

	r.logHeadline(t, "PostgreSQL out of connections (max_connections 40 taken by other clients) mid-run, publishing at up to 15,000 events/s", time.Since(r.start))
	t.Logf("  taken at %d/%d received: %d sessions held by others, the replicas' ended, in %s; /health said database disconnected after %s; refused for %s",
		atTake.Received, events, sessions, took.Round(time.Millisecond), noticed.Round(time.Millisecond), released.Sub(taken).Round(time.Millisecond))
	t.Logf("  meanwhile the reads answered 503 with Retry-After (%.0f reads answered 503 in all), /publish accepted %d events, consumers held %d messages (highest delivery count %d), %.0f batches failed and were retried; %d publish retries",
		unavailable, sentInOutage, len(held), maxDeliveries(held), failedBatches, res.Retries)
	t.Logf("  healthy %s after the connections were given back, drained %s after", recovered.Round(time.Millisecond), drained.Round(time.Millisecond))
	logEnd(t, st)
}
