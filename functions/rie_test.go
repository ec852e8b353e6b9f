// Package functions_test runs each Lambda function's real bootstrap, built
// as for the cloud, under the AWS Lambda Runtime Interface Emulator (the
// emulator `sam local invoke` uses) with the stub events of events/, and
// checks the responses and what reached Redis, SQS and PostgreSQL.
package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/functions/internal/rie"
	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/sqsfake"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// invokeTimeout bounds one invocation, the function's init included.
const invokeTimeout = 60 * time.Second

var (
	binDir string

	installOnce sync.Once
	rieBin      string
	installErr  error

	buildMu    sync.Mutex
	bootstraps = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "logagg-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// emulatorBinary installs the emulator once; a test that cannot have it
// fails, as one that cannot reach its server does.
func emulatorBinary(t *testing.T) string {
	t.Helper()
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		rieBin, installErr = rie.Install(ctx, filepath.Join(modroot.ForTest(t), "bin", "tools"))
	})
	if installErr != nil {
		t.Fatalf("installing the Lambda Runtime Interface Emulator: %v", installErr)
	}
	return rieBin
}

// bootstrap builds the function's bootstrap for this machine once.
func bootstrap(t *testing.T, fn string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := bootstraps[fn]; ok {
		return bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := rie.Build(ctx, modroot.ForTest(t), "./functions/"+fn, runtime.GOARCH, filepath.Join(binDir, fn))
	require.NoError(t, err)
	bootstraps[fn] = bin
	return bin
}

// emulate starts fn under the emulator with only the given environment (and
// what the emulator needs), and stops it when the test ends.
func emulate(t *testing.T, fn string, env map[string]string) *rie.Emulator {
	t.Helper()
	testenv.SkipShort(t, "the Lambda emulator and a build of "+fn)
	bin, bs := emulatorBinary(t), bootstrap(t, fn)
	full := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_NAME=" + fn,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		// The SDK must not read this machine's AWS profile or probe EC2.
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range env {
		full = append(full, k+"="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	em, err := rie.Start(ctx, bin, bs, rie.Options{Env: full})
	require.NoError(t, err)
	t.Cleanup(func() {
		em.Stop()
		if t.Failed() {
			t.Logf("%s under the emulator:\n%s", fn, em.Logs())
		}
	})
	return em
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modroot.ForTest(t), "events", name))
	require.NoError(t, err)
	return b
}

// invoke sends payload and returns the function's result; the emulator
// answers 200 whenever the function answered.
func invoke(t *testing.T, em *rie.Emulator, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	resp, err := em.Invoke(ctx, payload)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status, "emulator status; body: %s", resp.Body)
	require.NotContains(t, string(resp.Body), `"errorMessage"`, "the function failed")
	return resp.Body
}

// httpResponse is an API Gateway HTTP API (payload v2) response.
type httpResponse struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func invokeHTTP(t *testing.T, em *rie.Emulator, event string) (httpResponse, map[string]any) {
	t.Helper()
	var r httpResponse
	raw := invoke(t, em, readEvent(t, event))
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	var body map[string]any
	if strings.HasPrefix(strings.TrimSpace(r.Body), "{") {
		require.NoError(t, json.Unmarshal([]byte(r.Body), &body), "%s", r.Body)
	}
	return r, body
}

// sqsResponse is the consume function's events.SQSEventResponse.
type sqsResponse struct {
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

func invokeConsume(t *testing.T, em *rie.Emulator, payload []byte) []string {
	t.Helper()
	var r sqsResponse
	raw := invoke(t, em, payload)
	require.NoError(t, json.Unmarshal(raw, &r), "%s", raw)
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func redisStream(t *testing.T) (redisURL, stream string, client *redis.Client) {
	t.Helper()
	redisURL, prefix := testenv.NewRedisPrefix(t)
	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	client = redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	return redisURL, prefix + "events", client
}

func openStore(t *testing.T, databaseURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), databaseURL, store.Options{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func TestPublishToRedisStream(t *testing.T) {
	t.Parallel()
	redisURL, stream, client := redisStream(t)
	em := emulate(t, "publish", map[string]string{"REDIS_URL": redisURL, "STREAM_NAME": stream})
	ctx := context.Background()

	resp, body := invokeHTTP(t, em, "publish-batch.json")
	require.Equal(t, 202, resp.StatusCode, resp.Body)
	require.Equal(t, map[string]any{"status": "accepted", "queued": float64(4)}, body)
	entries, err := client.XRange(ctx, stream, "-", "+").Result()
	require.NoError(t, err)
	var bodies []string
	for _, e := range entries {
		bodies = append(bodies, e.Values["e"].(string))
	}
	require.Equal(t, 4, countEvents(t, bodies), "the stream holds the batch's four events, duplicate included")
	require.Less(t, len(entries), 4, "the two copies of evt-1 share a message")

	resp, body = invokeHTTP(t, em, "publish-invalid.json")
	require.Equal(t, 422, resp.StatusCode, resp.Body)
	require.NotEmpty(t, body["error"])
	details, _ := body["details"].([]any)
	require.NotEmpty(t, details, "422 names each bad field: %s", resp.Body)
	fields := map[string]bool{}
	for _, d := range details {
		m := d.(map[string]any)
		require.Equal(t, float64(1), m["index"], "only the second event is bad: %v", m)
		fields[m["field"].(string)] = true
	}
	require.Equal(t, map[string]bool{"topic": true, "timestamp": true}, fields)
	n, err := client.XLen(ctx, stream).Result()
	require.NoError(t, err)
	require.Equal(t, int64(len(entries)), n, "a rejected request queues nothing")

	resp, body = invokeHTTP(t, em, "publish-single.json")
	require.Equal(t, 202, resp.StatusCode, resp.Body)
	require.Equal(t, float64(1), body["queued"])
	published, err := client.Get(ctx, stream+":published").Int64()
	require.NoError(t, err)
	require.Equal(t, int64(5), published)
}

func TestPublishToSQS(t *testing.T) {
	t.Parallel()
	fake := sqsfake.New()
	t.Cleanup(fake.Close)
	queueURL := fake.CreateQueue("logagg-events", sqsfake.Attributes{})
	databaseURL := testenv.NewDatabase(t)
	em := emulate(t, "publish", map[string]string{
		"QUEUE_URL": queueURL, "DATABASE_URL": databaseURL,
		"AWS_ENDPOINT_URL_SQS": fake.URL, "AWS_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example-secret",
	})

	resp, body := invokeHTTP(t, em, "publish-batch.json")
	require.Equal(t, 202, resp.StatusCode, resp.Body)
	require.Equal(t, float64(4), body["queued"])
	bodies := fake.Bodies(queueURL)
	require.Equal(t, 4, countEvents(t, bodies), "SQS holds the batch's four events")
	require.Less(t, len(bodies), 4, "the two copies of evt-1 share a message")
	published, err := openStore(t, databaseURL).Published(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(4), published, "PostgreSQL counts what SQS accepted")

	resp, _ = invokeHTTP(t, em, "publish-invalid.json")
	require.Equal(t, 422, resp.StatusCode, resp.Body)
	require.Len(t, fake.Bodies(queueURL), len(bodies), "a rejected request queues nothing")
}

// countEvents decodes queue message bodies, each one event or an array of
// events, and returns how many events they carry.
func countEvents(t *testing.T, bodies []string) int {
	t.Helper()
	n := 0
	for _, b := range bodies {
		evs, err := event.DecodeMessage([]byte(b))
		require.NoError(t, err, b)
		n += len(evs)
	}
	return n
}

// stats reads /stats through the query function.
func stats(t *testing.T, query *rie.Emulator) map[string]any {
	t.Helper()
	resp, body := invokeHTTP(t, query, "query-stats.json")
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	for _, k := range []string{"uptime_seconds", "status"} {
		require.Contains(t, body, k)
		delete(body, k)
	}
	return body
}

func counts(received, unique, duplicates, dead, topics int) map[string]any {
	return map[string]any{
		"received": float64(received), "unique_processed": float64(unique), "duplicate_dropped": float64(duplicates),
		"dead_lettered": float64(dead), "topics": float64(topics), "payload_conflicts": float64(0),
		// Nothing went through publish here: published stays 0, and queued
		// (published − received − dead_lettered) is reported as computed,
		// negative, which shows that the events came in another way.
		"published": float64(0), "queued": float64(-received - dead),
	}
}

// withMessageIDs rewrites the SQS event's message IDs with a suffix, as
// new messages carrying the same bodies.
func withMessageIDs(t *testing.T, payload []byte, suffix string) ([]byte, []string) {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(payload, &ev))
	var ids []string
	for _, r := range ev["Records"].([]any) {
		m := r.(map[string]any)
		m["messageId"] = m["messageId"].(string) + suffix
		ids = append(ids, m["messageId"].(string))
	}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out, ids
}

func TestConsumeAndQuery(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabase(t)
	consume := emulate(t, "consume", map[string]string{"DATABASE_URL": databaseURL})
	query := emulate(t, "query", map[string]string{"DATABASE_URL": databaseURL})
	sqsEvent := readEvent(t, "consume-sqs.json")
	ctx := context.Background()

	// Five messages: two events, the first one's duplicate under another
	// message ID, an array of two events, and a body that is not JSON.
	require.Empty(t, invokeConsume(t, consume, sqsEvent), "nothing to retry: the garbage is dead-lettered, not reported")
	require.Equal(t, counts(5, 4, 1, 1, 2), stats(t, query))

	st := openStore(t, databaseURL)
	dead, err := st.DeadLetters(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "6f1a8c52-0005-4e0b-9d1a-000000000005", dead[0].MessageID)
	require.Equal(t, "this is not JSON", dead[0].Body)
	require.NotEmpty(t, dead[0].Reason)
	n, err := st.Count(ctx, "user.login")
	require.NoError(t, err)
	require.Equal(t, int64(3), n)

	// SQS delivers the batch again (it committed, but the deletion was
	// lost): the ledger recognises every message and no count changes.
	require.Empty(t, invokeConsume(t, consume, sqsEvent))
	require.Equal(t, counts(5, 4, 1, 1, 2), stats(t, query))

	resp, _ := invokeHTTP(t, query, "query-events.json")
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &listed))
	var ids []string
	for _, e := range listed {
		require.Equal(t, "user.login", e["topic"])
		ids = append(ids, e["event_id"].(string))
	}
	require.ElementsMatch(t, []string{"evt-100", "evt-102", "evt-103"}, ids)

	// The database goes away: every message of the batch is reported for
	// SQS to retry, and the invocation itself succeeds.
	again, againIDs := withMessageIDs(t, sqsEvent, "-again")
	setConnectable(t, databaseURL, false)
	require.ElementsMatch(t, againIDs, invokeConsume(t, consume, again))

	// It comes back and SQS retries: the same events again are duplicates,
	// counted once; the garbage is dead-lettered once more.
	setConnectable(t, databaseURL, true)
	require.Empty(t, invokeConsume(t, consume, again))
	// The query function's pool finds its ended connections on use: it
	// answers 503 until it has replaced them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := invokeHTTP(t, query, "query-stats.json")
		if resp.StatusCode == 200 {
			break
		}
		require.Equal(t, 503, resp.StatusCode, resp.Body)
		require.True(t, time.Now().Before(deadline), "the query function still answers 503")
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, counts(10, 4, 6, 2, 2), stats(t, query))
}

// TestConsumeFailsOnlyWhenNothingCanBeJudged: a payload that is not an SQS
// event at all is the one case of a top-level error.
func TestConsumeFailsOnlyWhenNothingCanBeJudged(t *testing.T) {
	t.Parallel()
	consume := emulate(t, "consume", map[string]string{"DATABASE_URL": testenv.NewDatabase(t)})
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	resp, err := consume.Invoke(ctx, []byte(`{"Records": "not a list"}`))
	require.NoError(t, err)
	require.Contains(t, string(resp.Body), `"errorMessage"`, "status %d: %s", resp.Status, resp.Body)

	require.Empty(t, invokeConsume(t, consume, []byte(`{"Records": []}`)), "an empty batch is a success")
}

// The maintain function, on its schedule's event, drops the partition that
// RETENTION has passed and prunes the rest by age, and says so in its
// result.
func TestMaintainOnSchedule(t *testing.T) {
	t.Parallel()
	databaseURL := testenv.NewDatabase(t)
	// Migrated, as the seed needs the tables, with daily partitions, so that
	// the records seeded days back lie outside the partition for now.
	st, err := store.Open(context.Background(), databaseURL, store.Options{MaxConns: 2, PartitionInterval: 24 * time.Hour})
	require.NoError(t, err)
	st.Close()
	aged := testenv.SeedAged(t, databaseURL, 72*time.Hour, 4)
	em := emulate(t, "maintain", map[string]string{
		"DATABASE_URL": databaseURL, "PARTITION_INTERVAL": "24h", "RETENTION": "24h", "DEDUP_WINDOW": "48h",
		"DUPLICATE_AUDIT_RETENTION": "24h", "DEAD_LETTER_RETENTION": "24h", "LEDGER_RETENTION": "24h",
	})
	event := readEvent(t, "maintain-schedule.json")

	var did map[string]any
	require.NoError(t, json.Unmarshal(invoke(t, em, event), &did))
	require.Equal(t, []any{aged.Partition}, did["partitions_dropped"])
	for k, n := range map[string]float64{
		"events_dropped_estimate": 4, "keys_forgotten": 4, "duplicate_audit_pruned": 1,
		"dead_letters_pruned": 1, "ledger_entries_pruned": 1,
	} {
		require.Equal(t, n, did[k], k)
	}
	var left int
	require.NoError(t, connect(t, databaseURL).QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM processed_events) + (SELECT count(*) FROM event_keys)`).Scan(&left))
	require.Zero(t, left)

	var again map[string]any
	require.NoError(t, json.Unmarshal(invoke(t, em, event), &again))
	require.Contains(t, again, "partitions_dropped")
	require.Nil(t, again["partitions_dropped"], "the next pass finds nothing to drop")
}

// connect opens a connection to databaseURL's database, closed when the
// test ends.
func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// setConnectable lets the database accept connections or not; refusing
// also ends the connections it has.
func setConnectable(t *testing.T, databaseURL string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.AdminDatabaseURL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := databaseURL[strings.LastIndex(databaseURL, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	_, err = conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS %t", pgx.Identifier{name}.Sanitize(), ok))
	require.NoError(t, err)
	if !ok {
		t.Cleanup(func() { setConnectable(t, databaseURL, true) })
		_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name)
		require.NoError(t, err)
	}
}
