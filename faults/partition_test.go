//go:build faults

package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// A partition cuts a replica, running in a network namespace of its own,
// off from PostgreSQL, Redis or both, while it holds messages in an open
// consume transaction; a second replica, outside, survives. The links are
// cut one of two ways: taken down, so that new connections fail at once
// and established ones stall, or made to lose every packet silently, so
// that everything stalls. During the cut the replica must say on /health,
// from inside its namespace, what it cannot reach, and /publish must
// answer within 5 s: 503 when Redis is cut off. The survivor takes over
// what the cut-off replica held when Redis is cut (the holder can no
// longer extend its messages) and must not be held up by the row locks of
// the cut-off replica's transaction. Then the cut heals, the replica comes
// back and consumes again, and every count is exact.

// partitionCut is what a scenario cuts and how.
type partitionCut struct {
	links []string // "pg", "redis"
	drop  bool     // lose packets silently; else take the links down
}

func (c partitionCut) cuts(name string) bool { return slices.Contains(c.links, name) }

func (c partitionCut) String() string {
	how := "link down"
	if c.drop {
		how = "packets dropped"
	}
	return strings.Join(c.links, "+") + ", " + how
}

// TestPartitionLinkDown takes both links of the replica down.
func TestPartitionLinkDown(t *testing.T) {
	partitionScenario(t, partitionCut{links: []string{"pg", "redis"}}, 21)
}

// TestPartitionPacketsDropped makes both links lose every packet.
func TestPartitionPacketsDropped(t *testing.T) {
	partitionScenario(t, partitionCut{links: []string{"pg", "redis"}, drop: true}, 22)
}

// TestPartitionRedisOnly cuts Redis alone, silently: the replica commits
// and cannot acknowledge.
func TestPartitionRedisOnly(t *testing.T) {
	partitionScenario(t, partitionCut{links: []string{"redis"}, drop: true}, 23)
}

// TestPartitionPostgresOnly cuts PostgreSQL alone, silently. The replica
// still reaches Redis: /publish accepts, and it keeps extending the
// messages it holds, so that the survivor does not take them over (and
// raise their delivery counts) however long the cut lasts; it commits them
// once the cut heals.
func TestPartitionPostgresOnly(t *testing.T) {
	partitionScenario(t, partitionCut{links: []string{"pg"}, drop: true}, 24)
}

func partitionScenario(t *testing.T, cut partitionCut, seed int64) {
	const events, after = 40_000, 20_000
	ns := newNetns(t, "pg", "redis", "http")
	s := newSystemOn(t, nil, servers{ns: ns})
	cutOff, survivor := s.startIn(ns, "cutoff", nil), s.start("survivor", nil)
	t.Cleanup(func() { // before the replicas are stopped
		if t.Failed() {
			s.logState(t)
			// Its goroutines' stacks go to its output, which is logged.
			_ = cutOff.proc.Signal(syscall.SIGQUIT)
			_ = cutOff.proc.Wait(5 * time.Second)
		}
	})
	c := client(cutOff, survivor)
	peer := ns.link("pg").peer

	// Late in the run, so that the requests the balancer sends to the
	// cut-off replica, which wait out its 503s, are few.
	r := publish(c, events, 0.3, seed, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 8_000})
	eventually(t, time.Minute, "60% of the events published", func() bool { return r.sent.Load() >= events*6/10 })

	held := s.catchInTransaction(t, cutOff, peer)
	for _, name := range cut.links {
		if cut.drop {
			ns.link(name).Drop()
		} else {
			ns.link(name).Down()
		}
	}
	cutAt := time.Now()
	sentAtCut := r.sent.Load()
	require.NoError(t, thaw(cutOff.proc))
	reclaimed := since(t, cutAt, func() bool { return len(s.pendingOf(cutOff.consumers()...)) == 0 })
	sessions := s.sessionsFrom(t, peer)
	sessionsGone := since(t, cutAt, func() bool { return sessions() == 0 })

	// Seen from inside: /health names what is cut off, /publish answers.
	// A load balancer that checks /health then sends the publisher's
	// requests to the survivor alone.
	var body map[string]string
	noticed := eventually(t, 15*time.Second, "/health inside the namespace names what is cut off", func() bool {
		var code int
		code, body = healthInside(t, cutOff)
		return code == http.StatusServiceUnavailable && body["status"] == "unhealthy" &&
			body["database"] == connection(!cut.cuts("pg")) && body["redis"] == connection(!cut.cuts("redis"))
	})
	setDown(c, cutOff, true)
	pub := publishInside(t, cutOff, 5*time.Second)
	if cut.cuts("redis") {
		require.Equal(t, http.StatusServiceUnavailable, pub.code, "/publish with Redis cut off: %s", pub)
		require.NotEmpty(t, pub.retryAfter, "a 503 says when to retry")
	} else {
		require.Equal(t, http.StatusAccepted, pub.code, "/publish with only PostgreSQL cut off: %s", pub)
	}

	// PostgreSQL drops the cut-off replica's sessions, and the locks of its
	// transaction with them. The survivor takes over everything but what
	// the cut-off replica may still hold: all of it when Redis is cut.
	if cut.cuts("pg") {
		eventually(t, time.Minute, "PostgreSQL drops the cut-off replica's sessions", func() bool { return sessionsGone() > 0 })
	}
	if cut.cuts("redis") {
		eventually(t, time.Minute, "the survivor reclaims the cut-off replica's messages", func() bool { return reclaimed() > 0 })
	}
	res := r.wait(t)
	eventually(t, time.Minute, "the survivor consumes everything the cut-off replica does not hold", func() bool {
		return s.lag() == 0 && len(s.pendingOf(survivor.consumers()...)) == 0 &&
			(cut.cuts("redis") || s.pendingTotal() == int64(len(s.pendingOf(cutOff.consumers()...))))
	})
	tookOver := time.Since(cutAt)
	stillHeld := s.pendingOf(cutOff.consumers()...)
	if !cut.cuts("redis") {
		require.NotEmpty(t, stillHeld, "the replica cut off from PostgreSQL alone keeps its messages")
		deliveries := map[string]int64{}
		for _, e := range held {
			deliveries[e.ID] = e.RetryCount
		}
		for _, e := range stillHeld {
			if n, ok := deliveries[e.ID]; ok {
				require.Equal(t, n, e.RetryCount, "a message the cut-off replica held was delivered again")
			}
		}
	}

	for _, name := range cut.links {
		if cut.drop {
			ns.link(name).Pass()
		} else {
			ns.link(name).Up()
		}
	}
	healed := time.Now()
	cutFor := healed.Sub(cutAt)
	recovered := eventually(t, time.Minute, "/health inside the namespace says healthy again", func() bool {
		code, _ := healthInside(t, cutOff)
		return code == http.StatusOK
	})
	setDown(c, cutOff, false)
	// Its fetching may be waiting out a backoff of up to 7.5 s: publish
	// again once it reads the stream, so that it gets a share.
	eventually(t, time.Minute, "the cut-off replica waits on the stream again", func() bool {
		return s.waitingOnStream(ns.link("redis").peer)
	})
	reading := time.Since(healed)
	consumedBefore := metric(t, cutOff, "logagg_consumed_events_total", "")
	r2 := publish(c, after, 0.3, seed+100, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 4_000})
	eventually(t, time.Minute, "the cut-off replica consumes again", func() bool {
		return metric(t, cutOff, "logagg_consumed_events_total", "") > consumedBefore
	})
	res2 := r2.wait(t)
	all := append(slices.Clone(r.events), r2.events...)
	if pub.code == http.StatusAccepted {
		all = append(all, pub.event)
	}
	keys := keysOf(t, all)
	st := s.requireExact(t, c, want{sent: int64(len(all)), resent: true, unique: int64(len(keys)), keys: keys})
	failedAcks, failedBatches := logLines(cutOff, "acknowledge failed"), logLines(cutOff, "batch not committed")
	if !cut.cuts("pg") {
		require.Positive(t, failedAcks, "the transaction the cut caught committed, and its acknowledgement failed")
	}
	stopAll(t, cutOff, survivor)

	t.Logf("partition of 1 of 2 replicas (%s): %d + %d events (%.0f%% duplicates), cut %s after the start, at %d/%d published",
		cut, events, after, 100*float64(len(all)-len(keys))/float64(len(all)), cutAt.Sub(r.start).Round(time.Millisecond), sentAtCut, events)
	t.Logf("  cut in a consume transaction, holding %d messages (deliveries up to %d); /health inside said %v after %s; /publish inside answered %d in %s",
		len(held), maxDeliveries(held), body, noticed.Round(time.Millisecond), pub.code, pub.took.Round(time.Millisecond))
	if cut.cuts("pg") {
		t.Logf("  PostgreSQL dropped the cut-off replica's sessions %s after the cut", sessionsGone().Round(time.Millisecond))
	}
	if cut.cuts("redis") {
		t.Logf("  the survivor reclaimed its messages %s after the cut (CLAIM_IDLE 2s) and had consumed everything %s after it",
			reclaimed().Round(time.Millisecond), tookOver.Round(time.Millisecond))
	} else {
		t.Logf("  the survivor had consumed everything else %s after the cut; the cut-off replica still held %d messages (deliveries up to %d), extending them",
			tookOver.Round(time.Millisecond), len(stillHeld), maxDeliveries(stillHeld))
	}
	t.Logf("  on the cut-off replica %d batches failed to commit and %d acknowledgements failed, all retried or redelivered",
		failedBatches, failedAcks)
	t.Logf("  healed after %s; /health inside healthy %s later, waiting on the stream again %s later; the publisher retried %d requests",
		cutFor.Round(time.Millisecond), recovered.Round(time.Millisecond), reading.Round(time.Millisecond), res.Retries+res2.Retries)
	logEnd(t, st)
}

// since watches cond in the background from now until the test ends, and
// returns how long after from it first held, or 0 while it has not.
func since(t *testing.T, from time.Time, cond func() bool) func() time.Duration {
	var after atomic.Int64
	go func() {
		for t.Context().Err() == nil {
			if cond() {
				after.Store(int64(time.Since(from)))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() time.Duration { return time.Duration(after.Load()) }
}

// sessionsFrom returns a probe that counts the PostgreSQL sessions of a
// client at addr, on a connection of its own, or -1 when it cannot tell.
// It may be called from any goroutine.
func (s *system) sessionsFrom(t *testing.T, addr netip.Addr) func() int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.pg.URL())
	require.NoError(t, err)
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = conn.Close(ctx)
	})
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		var n int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE client_addr = $1::inet`, addr.String()).Scan(&n); err != nil {
			return -1
		}
		return n
	}
}

// setDown takes r out of c's balancing, or puts it back, as a load
// balancer does when r's /health fails or passes again. Taken out, r is
// passed over as a replica that could not be reached is: for good, or
// for the balancer's retryDown.
func setDown(c *loadgen.Client, r *replica, down bool) {
	b := c.HTTP.Transport.(*balancer)
	b.mu.Lock()
	defer b.mu.Unlock()
	host := strings.TrimPrefix(r.url, "http://")
	if !down {
		delete(b.down, host)
		return
	}
	if b.down == nil {
		b.down = map[string]time.Time{}
	}
	b.down[host] = time.Now()
}

// connection is what /health says of a dependency it reaches or not.
func connection(reached bool) string {
	if reached {
		return "connected"
	}
	return "disconnected"
}

// catchInTransaction freezes r at a moment when it holds messages and has
// a transaction open on PostgreSQL (seen from the server: a backend of a
// client at from, in a transaction), and returns the messages it holds. The
// replica is left frozen.
func (s *system) catchInTransaction(t *testing.T, r *replica, from netip.Addr) []redis.XPendingExt {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		require.NoError(t, freeze(r.proc))
		if p := s.pendingOf(r.consumers()...); len(p) > 0 && s.count(t, `
			SELECT count(*) FROM pg_stat_activity
			WHERE client_addr = $1::inet AND xact_start IS NOT NULL AND backend_type = 'client backend'`, from.String()) > 0 {
			return p
		}
		require.NoError(t, thaw(r.proc))
		require.False(t, time.Now().After(deadline), "%s was never caught in a transaction holding messages", r.name)
		time.Sleep(time.Duration(3+attempt%7) * time.Millisecond)
	}
}

// waitingOnStream reports whether a client at addr is blocked in
// XREADGROUP, waiting for new entries. (XINFO CONSUMERS cannot tell: Redis
// 7.0 counts a consumer idle until a read delivers something.)
func (s *system) waitingOnStream(addr netip.Addr) bool {
	clients, err := s.rdb.ClientList(context.Background()).Result()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(clients, "\n") {
		var from, flags, cmd string
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "addr":
				from = v
			case "flags":
				flags = v
			case "cmd":
				cmd = v
			}
		}
		if strings.HasPrefix(from, addr.String()+":") && cmd == "xreadgroup" && strings.Contains(flags, "b") {
			return true
		}
	}
	return false
}

// lag is how many stream entries the group has not yet delivered.
func (s *system) lag() int64 {
	groups, err := s.rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		return -1
	}
	for _, g := range groups {
		if g.Name == group {
			return g.Lag
		}
	}
	return -1
}

// healthInside reads r's /health from inside its namespace.
func healthInside(t *testing.T, r *replica) (int, map[string]string) {
	t.Helper()
	a := curlInside(t, r, "GET", "/health", "", 3*time.Second)
	var body map[string]string
	_ = json.Unmarshal([]byte(a.body), &body)
	return a.code, body
}

// publishInside publishes one event of its own through r's /publish from
// inside its namespace, allowing limit for the answer.
func publishInside(t *testing.T, r *replica, limit time.Duration) answer {
	t.Helper()
	ev := fmt.Sprintf(`{"topic":"partition","event_id":"inside-%s","timestamp":"2026-11-25T10:00:00Z","source":"faults","payload":{}}`, r.name)
	a := curlInside(t, r, "POST", "/publish", ev, limit)
	a.event = json.RawMessage(ev)
	return a
}

// answer is an HTTP answer curl got, or code 0 when none came in time.
type answer struct {
	code       int
	retryAfter string
	body       string
	took       time.Duration
	event      json.RawMessage // what was sent
}

func (a answer) String() string {
	return fmt.Sprintf("%d after %s, Retry-After %q: %s", a.code, a.took.Round(time.Millisecond), a.retryAfter, a.body)
}

// curlInside sends a request to r from inside its namespace with curl,
// which gives up after limit.
func curlInside(t *testing.T, r *replica, method, path, body string, limit time.Duration) answer {
	t.Helper()
	args := []string{"-s", "-i", "-X", method, "-m", strconv.FormatFloat(limit.Seconds(), 'f', 1, 64),
		"http://127.0.0.1:" + r.port + path}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", body)
	}
	start := time.Now()
	out, _ := r.ns.command("curl", args...).Output() // curl fails (28) when no answer came in time
	a := answer{took: time.Since(start)}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if a.code == 0 {
			if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
				a.code, _ = strconv.Atoi(f[1])
			}
			continue
		}
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Retry-After") {
			a.retryAfter = strings.TrimSpace(v)
		}
	}
	if _, rest, ok := strings.Cut(string(out), "\r\n\r\n"); ok {
		a.body = strings.TrimSpace(rest)
	}
	return a
}

// logState logs what the servers see: the sessions on PostgreSQL, the
// group's lag and the entries each consumer holds.
func (s *system) logState(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.pg.URL())
	if err != nil {
		t.Logf("state: no connection to PostgreSQL: %v", err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT coalesce(host(client_addr), ''), coalesce(state, ''), coalesce(wait_event_type || ':' || wait_event, ''),
		       coalesce(now() - xact_start, '0'), left(query, 80)
		FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err == nil {
		var addr, state, wait, query string
		var inTx time.Duration
		_, err = pgx.ForEachRow(rows, []any{&addr, &state, &wait, &inTx, &query}, func() error {
			t.Logf("state: session from %s: %s, waiting %q, in transaction %s: %s", addr, state, wait, inTx.Round(time.Millisecond), query)
			return nil
		})
	}
	if err != nil {
		t.Logf("state: pg_stat_activity: %v", err)
	}
	t.Logf("state: lag %d, pending %v", s.lag(), s.pending())
	if clients, err := s.rdb.ClientList(ctx).Result(); err == nil {
		t.Logf("state: Redis clients:\n%s", clients)
	}
	if consumers, err := s.rdb.XInfoConsumers(ctx, stream, group).Result(); err == nil {
		t.Logf("state: consumers %+v", consumers)
	}
}
