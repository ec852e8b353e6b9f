package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

// otlpRecords is how many log records each test emits, in one export.
const otlpRecords = 5

// exportLogs emits otlpRecords records through the official Go SDK's
// OTLP/HTTP exporter (gzip on, retries on) to endpoint, and flushes them:
// ForceFlush returns once the export succeeded, after the SDK's retries,
// or with the error that ended them. The records are the same at each
// call, as a shipper's resend of a batch is.
func exportLogs(t *testing.T, endpoint, service string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := []otlploghttp.Option{
		otlploghttp.WithEndpointURL(endpoint + "/v1/logs"),
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{
			Enabled: true, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: time.Minute,
		}),
	}
	exp, err := otlploghttp.New(ctx, opts...)
	require.NoError(t, err)
	provider := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
		// One export, by ForceFlush, which then returns its outcome.
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp,
			sdklog.WithExportMaxBatchSize(otlpRecords+1), sdklog.WithExportInterval(time.Hour))))
	logger := provider.Logger("otlp-test")
	for i := range otlpRecords {
		var rec otellog.Record
		rec.SetTimestamp(time.Date(2026, 11, 25, 10, 0, i, 0, time.UTC))
		// Fixed, as in a resent batch: left unset, the SDK stamps the
		// time of Emit, and a record emitted anew is another record.
		rec.SetObservedTimestamp(time.Date(2026, 11, 25, 10, 1, i, 0, time.UTC))
		rec.SetSeverity(otellog.SeverityInfo)
		rec.SetBody(attribute.StringValue(fmt.Sprintf("line %d", i)))
		rec.AddAttributes(attribute.Int("n", i))
		logger.Emit(ctx, rec)
	}
	err = provider.ForceFlush(ctx)
	require.NoError(t, provider.Shutdown(ctx))
	return err
}

// requireStoredOnce waits until the service's records are consumed and
// checks that each is stored exactly once.
func requireStoredOnce(t *testing.T, url, service string) {
	t.Helper()
	var count struct{ Count int64 }
	require.Eventually(t, func() bool {
		getJSON(t, url+"/events/count?topic="+service, &count)
		return count.Count >= otlpRecords
	}, time.Minute, 50*time.Millisecond, "the records are consumed")
	var stats struct{ Queued int64 }
	require.Eventually(t, func() bool {
		getJSON(t, url+"/stats", &stats)
		return stats.Queued == 0
	}, time.Minute, 50*time.Millisecond, "the queue drains")
	getJSON(t, url+"/events/count?topic="+service, &count)
	require.Equal(t, int64(otlpRecords), count.Count, "every record stored exactly once")
	var evs []struct {
		Source  string
		Payload map[string]any
	}
	getJSON(t, url+"/events?topic="+service, &evs)
	require.Len(t, evs, otlpRecords)
	for _, e := range evs {
		require.Equal(t, service, e.Source)
		require.Contains(t, e.Payload["body"], "line ")
	}
}

func TestOTLPSDKExportIsStoredOnce(t *testing.T) {
	testenv.SkipShort(t, "PostgreSQL and Redis")
	t.Parallel()
	url := startInProcess(t, serviceEnv(t))
	require.NoError(t, exportLogs(t, url, "checkout"))
	requireStoredOnce(t, url, "checkout")
	require.Equal(t, float64(otlpRecords), testenv.Metric(t, url, "logagg_published_events_total", `protocol="otlp"`))
}

// An export answered 429 (the queue over MAX_BACKLOG) is retried by the SDK
// and stored once when the backlog has drained.
func TestOTLPSDKRetriesAnOverloadedExport(t *testing.T) {
	testenv.SkipShort(t, "PostgreSQL and Redis")
	t.Parallel()
	env := serviceEnv(t)
	env["WORKER_COUNT"] = "0"
	env["MAX_BACKLOG"] = strconv.Itoa(otlpRecords)
	url := startInProcess(t, env)
	// Fill the backlog: nothing consumes yet.
	var seed strings.Builder
	for i := range otlpRecords {
		fmt.Fprintf(&seed, `{"topic":"seed","event_id":"s%d","timestamp":"2026-11-25T10:00:00Z","source":"test"}`+"\n", i)
	}
	resp, err := http.Post(url+"/publish", "application/x-ndjson", strings.NewReader(seed.String()))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	exported := make(chan error, 1)
	go func() { exported <- exportLogs(t, url, "checkout") }()
	require.Eventually(t, func() bool {
		return testenv.Metric(t, url, "logagg_http_requests_total", `code="429"`) > 0
	}, time.Minute, 50*time.Millisecond, "the export was refused with 429")
	// A second process consumes the backlog; the SDK's retry then passes.
	consumer := serviceEnv(t)
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "STREAM_NAME"} {
		consumer[k] = env[k]
	}
	startInProcess(t, consumer)
	require.NoError(t, <-exported, "the SDK retried the 429 until it passed")
	requireStoredOnce(t, url, "checkout")
}

// An export answered 503 (Redis down) is retried by the SDK and stored
// once when Redis is back. The Redis is the test's own, so that stopping it
// touches no other test; it keeps nothing, so the one started again is
// empty and localrun must recreate the stream and its group.
func TestOTLPSDKRetriesAnExportAnsweredUnavailable(t *testing.T) {
	testenv.SkipShort(t, "PostgreSQL and redis-server")
	t.Parallel()
	redisPort := testenv.FreePort(t)
	redisServer := startPrivateRedis(t, redisPort)
	env := serviceEnv(t)
	env["REDIS_URL"] = fmt.Sprintf("redis://127.0.0.1:%d/0", redisPort)
	url := startInProcess(t, env)

	// SIGTERM, not SIGSTOP: the port then refuses connections, which
	// localrun answers with 503 at once rather than after its timeouts.
	require.NoError(t, redisServer.Stop(10*time.Second))
	exported := make(chan error, 1)
	go func() { exported <- exportLogs(t, url, "checkout") }()
	unavailable := func() float64 {
		return testenv.Metric(t, url, "logagg_http_requests_total", `code="503",route="/v1/logs"`)
	}
	require.Eventually(t, func() bool { return unavailable() > 0 },
		time.Minute, 50*time.Millisecond, "the export was refused with 503")
	startPrivateRedis(t, redisPort)
	require.NoError(t, <-exported, "the SDK retried the 503 until it passed")
	requireStoredOnce(t, url, "checkout")
	var stats struct {
		UniqueProcessed  int64 `json:"unique_processed"`
		DuplicateDropped int64 `json:"duplicate_dropped"`
	}
	getJSON(t, url+"/stats", &stats)
	require.Equal(t, int64(otlpRecords), stats.UniqueProcessed)
	require.Zero(t, stats.DuplicateDropped)
	require.Positive(t, unavailable())
}

// startPrivateRedis starts a redis-server of the test's own on port, with
// no persistence, and waits until it answers. It is killed, if still
// running, when the test ends.
func startPrivateRedis(t *testing.T, port int) *proc.Process {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	require.NoError(t, err, "redis-server is not installed (apt-get install redis-server)")
	p := testenv.Start(t, bin, nil, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer client.Close()
	answers := func(ctx context.Context) bool { return client.Ping(ctx).Err() == nil }
	require.NoError(t, proc.Await(context.Background(), p, 30*time.Second, answers), p.Output())
	return p
}

// An export that met a refused connection (localrun not up yet) is not
// retried by the Go SDK, whose exporter retries only HTTP answers (429,
// 502, 503, 504) and temporary network errors: the export fails. The same
// records exported again once localrun is up, as a shipper's buffer would,
// are stored once.
func TestOTLPExportAfterARefusedConnectionIsStoredOnce(t *testing.T) {
	testenv.SkipShort(t, "PostgreSQL and Redis")
	t.Parallel()
	env := serviceEnv(t)
	url := baseURL(env)
	require.ErrorContains(t, exportLogs(t, url, "checkout"), "connection refused")
	startInProcess(t, env)
	require.NoError(t, exportLogs(t, url, "checkout"))
	requireStoredOnce(t, url, "checkout")
}

// An export whose response was lost (the connection cut after logagg
// queued the records) fails in the SDK, which does not retry it; resent,
// it is stored once.
func TestOTLPResentExportWhoseResponseWasLostIsStoredOnce(t *testing.T) {
	testenv.SkipShort(t, "PostgreSQL and Redis")
	t.Parallel()
	url := startInProcess(t, serviceEnv(t))
	proxy := forwardingProxy(t, url, func(n int64) action {
		if n == 1 {
			return forwardThenDrop
		}
		return forward
	})
	require.Error(t, exportLogs(t, proxy, "checkout"), "the answer was lost")
	require.NoError(t, exportLogs(t, proxy, "checkout"))
	requireStoredOnce(t, url, "checkout")
	var stats struct {
		Published        int64 `json:"published"`
		DuplicateDropped int64 `json:"duplicate_dropped"`
	}
	getJSON(t, url+"/stats", &stats)
	require.Equal(t, int64(2*otlpRecords), stats.Published, "the export reached logagg twice")
	require.Equal(t, int64(otlpRecords), stats.DuplicateDropped, "the resent records were dropped as duplicates")
}

type action int

const (
	forward         action = iota
	forwardThenDrop        // forward the request, then close the client's connection unanswered
)

// forwardingProxy serves a proxy to target that handles its n-th request
// (from 1) as decide says, and returns its URL.
func forwardingProxy(t *testing.T, target string, decide func(n int64) action) string {
	t.Helper()
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.Path, strings.NewReader(string(body)))
		if err != nil {
			return
		}
		out.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if decide(n.Add(1)) == forwardThenDrop {
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
