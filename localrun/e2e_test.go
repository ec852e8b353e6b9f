package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

// serviceEnv is the environment of one test's localrun: its own database,
// stream and port.
func serviceEnv(t *testing.T) map[string]string {
	t.Helper()
	redisURL, prefix := testenv.NewRedisPrefix(t)
	return map[string]string{
		"DATABASE_URL": testenv.NewDatabase(t),
		"REDIS_URL":    redisURL,
		"STREAM_NAME":  prefix + "events",
		"PORT":         strconv.Itoa(testenv.FreePort(t)),
		"LOG_LEVEL":    "warn",
	}
}

func baseURL(env map[string]string) string { return "http://127.0.0.1:" + env["PORT"] }

// startInProcess runs localrun's run() in this test process until the test
// ends, and waits until it is healthy.
func startInProcess(t *testing.T, env map[string]string) string {
	t.Helper()
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	stop := testenv.RunUntilStopped(t, 30*time.Second, func(ctx context.Context) error {
		return run(ctx, envmap.Env(env).Getenv, writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}))
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			mu.Lock()
			t.Logf("localrun logs:\n%s", logs.String())
			mu.Unlock()
		}
	})
	testenv.WaitHealthy(t, baseURL(env), nil, 60*time.Second)
	return baseURL(env)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// drained waits until every published event has been consumed.
func drained(t *testing.T, c *loadgen.Client, published int64) loadgen.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, _, err := c.WaitFor(ctx, func(s loadgen.Stats) bool {
		return s.Published == published && s.Received+s.DeadLettered == published
	})
	require.NoError(t, err, "queue did not drain; last stats %+v", st)
	return st
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

// requireExact checks SPEC's invariants and the expected totals, against
// the API and against the table itself.
func requireExact(t *testing.T, url string, st loadgen.Stats, sent, unique int) {
	t.Helper()
	require.Equal(t, int64(sent), st.Published, "published")
	require.Equal(t, int64(sent), st.Received, "received")
	require.Equal(t, int64(unique), st.UniqueProcessed, "unique_processed")
	require.Equal(t, int64(sent-unique), st.DuplicateDropped, "duplicate_dropped")
	require.Equal(t, st.Received, st.UniqueProcessed+st.DuplicateDropped)
	require.Zero(t, st.Queued)
	require.Zero(t, st.DeadLettered)
	var count struct{ Count int64 }
	getJSON(t, url+"/events/count", &count)
	require.Equal(t, int64(unique), count.Count)
	var topics []struct{ Unique, Duplicates int64 }
	getJSON(t, url+"/topics", &topics)
	var u, d int64
	for _, tp := range topics {
		u, d = u+tp.Unique, d+tp.Duplicates
	}
	require.Equal(t, int64(unique), u, "per-topic unique counts add up")
	require.Equal(t, int64(sent-unique), d, "per-topic duplicate counts add up")
}

func rowCount(t *testing.T, databaseURL string) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var rows, keys int64
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT count(*), count(DISTINCT (topic, event_id)) FROM processed_events").Scan(&rows, &keys))
	require.Equal(t, keys, rows, "one row per key")
	return rows
}

func TestEndToEnd20000EventsWith30PercentDuplicates(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t)
	url := startInProcess(t, env)
	events, unique := loadgen.Generate(loadgen.Plan{Events: 20000, DupRate: 0.3, Seed: 1})
	require.Equal(t, 14000, unique)
	c := loadgen.NewClient(url, "")
	start := time.Now()
	res, err := c.Publish(context.Background(), events, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4})
	require.NoError(t, err)
	require.Equal(t, 20000, res.Sent)
	st := drained(t, c, 20000)
	t.Logf("20,000 events (30%% duplicates) end to end in %s: %.0f events/s", time.Since(start), 20000/time.Since(start).Seconds())
	requireExact(t, url, st, 20000, unique)
	require.Equal(t, int64(unique), rowCount(t, env["DATABASE_URL"]))
}

func TestTwentyConcurrentPublishesOfOneEventGiveOneRow(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t)
	url := startInProcess(t, env)
	body := `{"topic":"user.login","event_id":"evt-42","timestamp":"2026-11-25T10:00:00Z","source":"auth","payload":{"user":"ana"}}`
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() {
			resp, err := http.Post(url+"/publish", "application/json", strings.NewReader(body))
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for _, c := range codes {
		require.Equal(t, http.StatusAccepted, c)
	}
	st := drained(t, loadgen.NewClient(url, ""), 20)
	requireExact(t, url, st, 20, 1)
	require.Equal(t, int64(1), rowCount(t, env["DATABASE_URL"]))
}

func TestTwoProcessesShareOneDuplicateHeavyLoad(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./localrun")
	env := serviceEnv(t)
	envB := map[string]string{}
	for k, v := range env {
		envB[k] = v
	}
	envB["PORT"] = strconv.Itoa(testenv.FreePort(t))
	env["CONSUMER_NAME"], envB["CONSUMER_NAME"] = "replica-a", "replica-b"
	pa, pb := testenv.Start(t, bin, env), testenv.Start(t, bin, envB)
	urlA, urlB := baseURL(env), baseURL(envB)
	testenv.WaitHealthy(t, urlA, pa, 60*time.Second)
	testenv.WaitHealthy(t, urlB, pb, 60*time.Second)

	events, unique := loadgen.Generate(loadgen.Plan{Events: 20000, DupRate: 0.5, Seed: 2})
	// Alternate requests between the replicas, so duplicates of one key
	// arrive through both.
	var halves [2][]json.RawMessage
	for i := 0; i < len(events); i += 250 {
		h := (i / 250) % 2
		halves[h] = append(halves[h], events[i:min(i+250, len(events))]...)
	}
	var wg sync.WaitGroup
	for i, url := range []string{urlA, urlB} {
		wg.Go(func() {
			_, err := loadgen.NewClient(url, "").Publish(context.Background(), halves[i],
				loadgen.PublishOptions{BatchSize: 250, Concurrency: 2})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	st := drained(t, loadgen.NewClient(urlA, ""), 20000)
	requireExact(t, urlA, st, 20000, unique)
	require.Equal(t, int64(unique), rowCount(t, env["DATABASE_URL"]))
	for _, url := range []string{urlA, urlB} {
		require.Positive(t, consumedBy(t, url), "%s consumed part of the load", url)
	}
	for _, p := range []*proc.Process{pa, pb} {
		require.NoError(t, p.Signal(syscall.SIGTERM))
		require.NoError(t, p.Wait(30*time.Second), "exit 0 on SIGTERM")
	}
	require.Zero(t, pendingCount(t, env), "nothing left pending after both stopped")
}

// consumedBy reads a replica's own consumed-events counter from /metrics.
func consumedBy(t *testing.T, url string) float64 {
	t.Helper()
	return testenv.Metric(t, url, "logagg_consumed_events_total", "")
}

func pendingCount(t *testing.T, env map[string]string) int64 {
	t.Helper()
	opt, err := redis.ParseURL(env["REDIS_URL"])
	require.NoError(t, err)
	client := redis.NewClient(opt)
	defer client.Close()
	p, err := client.XPending(context.Background(), env["STREAM_NAME"], "logagg").Result()
	require.NoError(t, err)
	return p.Count
}

func TestBadConfigurationFailsAtStartNamingTheVariable(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"WORKER_COUNT": {"DATABASE_URL": "postgres://x@127.0.0.1/x", "REDIS_URL": "redis://127.0.0.1:6379", "WORKER_COUNT": "many"},
		"DATABASE_URL": {"REDIS_URL": "redis://127.0.0.1:6379"},
		"REDIS_URL":    {"DATABASE_URL": "postgres://x@127.0.0.1/x"},
	} {
		err := run(context.Background(), envmap.Env(env).Getenv, io.Discard)
		require.ErrorContains(t, err, name)
	}
}
