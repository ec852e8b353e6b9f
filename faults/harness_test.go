//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

const (
	stream = "logagg:events"
	group  = "logagg"
)

// system is one scenario's logagg: a private PostgreSQL, a private Redis,
// and the localrun replicas started on them.
type system struct {
	t     *testing.T
	pg    *postgres
	redis *redisServer
	bin   string
	env   map[string]string // environment every replica shares
	rdb   *redis.Client
}

// newSystem starts the servers. env adds to or overrides the replicas'
// environment. The replicas are a faults build of localrun, which can stop
// itself at a fault point (shared/faultpoint) and otherwise runs as the
// normal build does.
func newSystem(t *testing.T, env map[string]string) *system {
	t.Helper()
	return newSystemOn(t, env, servers{})
}

// servers say how a scenario's PostgreSQL and Redis differ from the
// default ones.
type servers struct {
	pg    pgOptions
	redis []string // added to redis-server's command line
	// ns, when set, is a network namespace whose replicas reach the
	// servers too: PostgreSQL over its "pg" link, Redis over its "redis"
	// link.
	ns *netns
}

// newSystemOn is newSystem on servers started as srv says.
func newSystemOn(t *testing.T, env map[string]string, srv servers) *system {
	t.Helper()
	s := &system{t: t, bin: testenv.Build(t, "./localrun", "-tags", "faults")}
	s.pg = startPostgres(t, srv.pg, srv.ns.linksNamed("pg")...)
	s.redis = startRedis(t, srv.redis, srv.ns.linksNamed("redis")...)
	s.rdb = s.redis.Client()
	t.Cleanup(func() { s.rdb.Close() })
	s.env = map[string]string{
		"DATABASE_URL":     s.pg.URL(),
		"REDIS_URL":        s.redis.URL(),
		"CLAIM_IDLE":       "2s",
		"SHUTDOWN_TIMEOUT": "20s",
		"LOG_LEVEL":        "warn",
	}
	maps.Copy(s.env, env)
	return s
}

// startTwo starts a system with env and two replicas, a and b, and
// returns a client that balances between them.
func startTwo(t *testing.T, env map[string]string) (s *system, a, b *replica, c *loadgen.Client) {
	t.Helper()
	s = newSystem(t, env)
	a, b = s.start("a", nil), s.start("b", nil)
	return s, a, b, client(a, b)
}

// replica is one localrun process.
type replica struct {
	name    string
	url     string
	port    string
	workers int
	proc    *proc.Process
	ns      *netns // the network namespace it runs in; nil: the test's
}

// start runs a replica named name and waits until it is healthy. env adds
// to the system's environment.
func (s *system) start(name string, env map[string]string) *replica {
	s.t.Helper()
	return s.startIn(nil, name, env)
}

// startIn is start inside ns, when ns is not nil (see launchIn).
func (s *system) startIn(ns *netns, name string, env map[string]string) *replica {
	s.t.Helper()
	r := s.launchIn(ns, name, env)
	testenv.WaitHealthy(s.t, r.url, r.proc, 60*time.Second)
	return r
}

// launch runs a replica named name without waiting for it. It listens on
// env's PORT when given, so that a replica restarted there is found where
// its clients left it, and on a free port otherwise.
func (s *system) launch(name string, env map[string]string) *replica {
	s.t.Helper()
	return s.launchIn(nil, name, env)
}

// launchIn is launch inside ns, when ns is not nil: the replica reaches
// PostgreSQL over ns's "pg" link and Redis over its "redis" link, and the
// test reaches it over its "http" link.
func (s *system) launchIn(ns *netns, name string, env map[string]string) *replica {
	s.t.Helper()
	e := maps.Clone(s.env)
	host, bin, args := "127.0.0.1", s.bin, []string(nil)
	if ns != nil {
		e["DATABASE_URL"] = s.pg.URLOver(ns.link("pg"))
		e["REDIS_URL"] = s.redis.URLOver(ns.link("redis"))
		host = ns.link("http").peer.String()
		// ip execs the replica: the process started is the replica itself.
		bin, args = "ip", []string{"netns", "exec", ns.name, s.bin}
	}
	maps.Copy(e, env)
	e["CONSUMER_NAME"] = name
	if e["PORT"] == "" {
		e["PORT"] = strconv.Itoa(testenv.FreePort(s.t))
	}
	workers := 4
	if v, ok := e["WORKER_COUNT"]; ok {
		workers, _ = strconv.Atoi(v)
	}
	r := &replica{name: name, url: "http://" + host + ":" + e["PORT"], port: e["PORT"], workers: workers, ns: ns}
	r.proc = testenv.Start(s.t, bin, e, args...)
	return r
}

// consumers are the replica's names in the consumer group.
func (r *replica) consumers() []string {
	// One consumer fetches for all of a replica's workers.
	return []string{r.name}
}

// stop sends SIGTERM and requires a clean exit within timeout.
func (r *replica) stop(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, r.proc.Stop(timeout), "%s exits 0 on SIGTERM", r.name)
	return time.Since(start)
}

// stopAll stops every replica as stop does, with 30 s each.
func stopAll(t *testing.T, replicas ...*replica) {
	t.Helper()
	for _, r := range replicas {
		r.stop(t, 30*time.Second)
	}
}

// client publishes and reads through the replicas like a load balancer:
// requests go round-robin to the replicas that answer, and a request whose
// replica cannot be reached is sent to another.
func client(replicas ...*replica) *loadgen.Client {
	urls := make([]string, len(replicas))
	for i, r := range replicas {
		urls[i] = r.url
	}
	return balanced(balancing{}, urls...)
}

// balancing says how a balanced client treats replicas that fail it.
type balancing struct {
	// retryDown is how long a replica that could not be reached is passed
	// over; 0 passes it over for good. A replica that is restarted where it
	// was needs it.
	retryDown time.Duration
	// answerWithin, when positive, is how long a replica has to begin its
	// answer before the request goes to another: a stopped process accepts
	// connections and never answers them.
	answerWithin time.Duration
}

// balanced is a client of the replicas at urls, balanced as opt says.
func balanced(opt balancing, urls ...string) *loadgen.Client {
	hosts := make([]string, len(urls))
	for i, u := range urls {
		hosts[i] = strings.TrimPrefix(u, "http://")
	}
	base := loadgen.NewHTTPClient(256).Transport.(*http.Transport)
	base.ResponseHeaderTimeout = opt.answerWithin
	b := &balancer{hosts: hosts, base: base, retryDown: opt.retryDown}
	return &loadgen.Client{BaseURL: urls[0], HTTP: &http.Client{Transport: b}}
}

// failovers counts the requests c's balancer sent to another replica
// because theirs could not be reached.
func failovers(c *loadgen.Client) int64 {
	return c.HTTP.Transport.(*balancer).failovers.Load()
}

type balancer struct {
	hosts     []string
	base      http.RoundTripper
	retryDown time.Duration
	next      atomic.Uint64
	mu        sync.Mutex
	down      map[string]time.Time // when each host last failed

	failovers atomic.Int64
}

func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var lastErr error
	for range len(b.hosts) {
		host := b.pick()
		r := req.Clone(req.Context())
		r.URL.Host, r.Host = host, host
		if req.GetBody != nil {
			r.Body, _ = req.GetBody()
		}
		resp, err := b.base.RoundTrip(r)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if req.Context().Err() != nil {
			break
		}
		b.mu.Lock()
		if b.down == nil {
			b.down = map[string]time.Time{}
		}
		b.down[host] = time.Now()
		b.mu.Unlock()
		b.failovers.Add(1)
	}
	return nil, lastErr
}

// pick takes the next replica not known to be down, or any when all are.
func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range len(b.hosts) {
		h := b.hosts[b.next.Add(1)%uint64(len(b.hosts))]
		failed, ok := b.down[h]
		if !ok || (b.retryDown > 0 && time.Since(failed) >= b.retryDown) {
			return h
		}
	}
	return b.hosts[b.next.Add(1)%uint64(len(b.hosts))]
}

// run is a publish in the background.
type run struct {
	events []json.RawMessage
	unique int
	start  time.Time
	done   chan struct{}
	res    loadgen.PublishResult
	err    error
	sent   atomic.Int64
}

// publish generates events with dupRate duplicates and publishes them
// through c in the background.
func publish(c *loadgen.Client, events int, dupRate float64, seed int64, opt loadgen.PublishOptions) *run {
	r := &run{start: time.Now(), done: make(chan struct{})}
	r.events, r.unique = loadgen.Generate(loadgen.Plan{Events: events, DupRate: dupRate, Seed: seed})
	opt.Progress = func(sent int) { r.sent.Store(int64(sent)) }
	go func() {
		defer close(r.done)
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		r.res, r.err = c.Publish(ctx, r.events, opt)
	}()
	return r
}

// wait waits for the publish to end and requires that every event was
// accepted.
func (r *run) wait(t *testing.T) loadgen.PublishResult {
	t.Helper()
	<-r.done
	require.NoError(t, r.err)
	require.Equal(t, len(r.events), r.res.Sent)
	return r.res
}

// logHeadline logs a scenario's first line: what happened during the run,
// and its events, duplicates and end-to-end rate over took.
func (r *run) logHeadline(t *testing.T, what string, took time.Duration) {
	t.Helper()
	n := len(r.events)
	t.Logf("%s: %d events (%d unique, %.0f%% duplicates) in %s, %.0f events/s end to end",
		what, n, r.unique, 100*float64(n-r.unique)/float64(n), took.Round(time.Millisecond), rate(int64(n), took))
}

// logEnd logs a scenario's last line: the counts it ended with.
func logEnd(t *testing.T, st loadgen.Stats) {
	t.Helper()
	t.Logf("  end: published %d, received %d = unique %d + duplicates %d, dead_lettered %d, XPENDING 0",
		st.Published, st.Received, st.UniqueProcessed, st.DuplicateDropped, st.DeadLettered)
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return eventuallyEvery(t, 10*time.Millisecond, timeout, what, cond)
}

// eventuallyEvery polls cond every period until it holds or timeout
// passes, and returns how long that took: for conditions that cost a query.
func eventuallyEvery(t *testing.T, period, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(period)
	}
	return time.Since(start)
}

// stats reads /stats, or zero stats when the replica cannot answer.
func stats(c *loadgen.Client) loadgen.Stats {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, _ := c.Stats(ctx)
	return st
}

// drain waits until everything published has been consumed and published
// has stopped moving.
func drain(t *testing.T, c *loadgen.Client, timeout time.Duration) loadgen.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, _, err := c.WaitFor(ctx, func(s loadgen.Stats) bool {
		return s.Published > 0 && s.Received+s.DeadLettered == s.Published
	})
	require.NoError(t, err, "the queue did not drain; last stats %+v", st)
	return st
}

// want is what a scenario must end with.
type want struct {
	sent int64 // events accepted by /publish (and messages queued directly)
	// resent allows published to exceed sent: requests whose answer was lost
	// in the fault are sent again, and their events queued twice.
	resent bool
	unique int64
	dead   int64
	keys   []key // every one must be stored exactly once
}

type key struct{ topic, eventID string }

// keysOf reads the (topic, event_id) of every distinct event.
func keysOf(t *testing.T, events []json.RawMessage) []key {
	t.Helper()
	seen := make(map[key]bool, len(events))
	var keys []key
	for _, raw := range events {
		var e struct {
			Topic   string `json:"topic"`
			EventID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal(raw, &e))
		k := key{e.Topic, e.EventID}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// requireExact drains the queue and checks SPEC's invariants and the
// expected totals against /stats, the table itself and the stream.
func (s *system) requireExact(t *testing.T, c *loadgen.Client, w want) loadgen.Stats {
	t.Helper()
	st := drain(t, c, 3*time.Minute)
	require.Equal(t, st.Received, st.UniqueProcessed+st.DuplicateDropped, "received == unique_processed + duplicate_dropped")
	require.Equal(t, st.Published, st.Received+st.DeadLettered, "published == received + dead_lettered")
	if w.resent {
		require.GreaterOrEqual(t, st.Published, w.sent, "published")
	} else {
		require.Equal(t, w.sent, st.Published, "published")
	}
	require.Equal(t, w.unique, st.UniqueProcessed, "unique_processed")
	require.Equal(t, w.dead, st.DeadLettered, "dead_lettered")
	require.Zero(t, st.Queued, "queued")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.pg.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var rows, distinct int64
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT count(*), count(DISTINCT (topic, event_id)) FROM processed_events`).Scan(&rows, &distinct))
	require.Equal(t, distinct, rows, "one row per (topic, event_id)")
	require.Equal(t, w.unique, rows, "rows")

	stored := make(map[key]bool, rows)
	var k key
	res, err := conn.Query(ctx, `SELECT topic, event_id FROM processed_events`)
	require.NoError(t, err)
	_, err = pgx.ForEachRow(res, []any{&k.topic, &k.eventID}, func() error {
		stored[k] = true
		return nil
	})
	require.NoError(t, err)
	missing := 0
	for _, k := range w.keys {
		if !stored[k] {
			missing++
		}
	}
	require.Zero(t, missing, "accepted events missing from processed_events")

	// Acknowledgements follow the commit; give the last ones a moment.
	eventually(t, 10*time.Second, "XPENDING empty", func() bool { return s.pendingTotal() == 0 })
	return st
}

// pending returns how many entries each consumer of the group holds.
func (s *system) pending() map[string]int64 {
	p, err := s.rdb.XPending(context.Background(), stream, group).Result()
	if err != nil {
		return nil
	}
	return p.Consumers
}

func (s *system) pendingTotal() int64 {
	p, err := s.rdb.XPending(context.Background(), stream, group).Result()
	if err != nil {
		return -1
	}
	return p.Count
}

// pendingOf returns the entries consumers hold, with their delivery counts.
func (s *system) pendingOf(consumers ...string) []redis.XPendingExt {
	var all []redis.XPendingExt
	for _, c := range consumers {
		p, err := s.rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{
			Stream: stream, Group: group, Start: "-", End: "+", Count: 100000, Consumer: c,
		}).Result()
		if err == nil {
			all = append(all, p...)
		}
	}
	return all
}

// count runs a query of one count on the system's database, on a
// connection of its own.
func (s *system) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.pg.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int64
	require.NoError(t, conn.QueryRow(ctx, query, args...).Scan(&n))
	return n
}

// committed counts how many of the message IDs the ledger holds.
func (s *system) committed(t *testing.T, ids []string) int64 {
	t.Helper()
	// A committed message is in the ledger or has events stored under its ID.
	return s.count(t, `
		SELECT count(*) FROM (
			SELECT message_id FROM consumed_messages WHERE message_id = ANY($1)
			UNION
			SELECT message_id FROM processed_events WHERE message_id = ANY($1)
		) committed`, ids)
}

// metric sums a replica's counter samples whose labels contain match.
func metric(t *testing.T, r *replica, name, match string) float64 {
	t.Helper()
	return testenv.Metric(t, r.url, name, match)
}

// health reads a replica's /health: its status code and body.
func health(r *replica) (int, map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.url+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// rate is events per second over d.
func rate(events int64, d time.Duration) float64 { return float64(events) / d.Seconds() }

// ids lists the IDs of pending entries.
func ids(p []redis.XPendingExt) []string {
	out := make([]string, len(p))
	for i, e := range p {
		out[i] = e.ID
	}
	return out
}

// maxDeliveries is the highest delivery count among pending entries.
func maxDeliveries(p []redis.XPendingExt) int64 {
	counts := make([]int64, len(p))
	for i, e := range p {
		counts[i] = e.RetryCount
	}
	if len(counts) == 0 {
		return 0
	}
	return slices.Max(counts)
}
