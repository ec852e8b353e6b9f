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
	const events, after = 60_000, 10_000
	ns := newNetns(t, "pg", "redis", "http")
	s := newSystemFor(t, nil, ns)
	t.Cleanup(func() {
		if t.Failed() {
			s.logState(t)
		}
	})
	cutOff, survivor := s.startIn(ns, "cutoff", nil), s.start("survivor", nil)
	c := client(cutOff, survivor)

	r := publish(c, events, 0.3, seed, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 6_000})
	eventually(t, time.Minute, "a fifth of the events received", func() bool { return stats(client(survivor)).Received >= events/5 })

	held := s.catchInTransaction(t, cutOff, ns.link("pg").peer)
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

	// Seen from inside: /health names what is cut off, /publish answers.
	var body map[string]string
	noticed := eventually(t, 15*time.Second, "/health inside the namespace names what is cut off", func() bool {
		var code int
		code, body = healthInside(t, cutOff)
		return code == http.StatusServiceUnavailable && body["status"] == "unhealthy" &&
			body["database"] == connection(!cut.cuts("pg")) && body["redis"] == connection(!cut.cuts("redis"))
	})
	pub := publishInside(t, cutOff, 5*time.Second)
	if cut.cuts("redis") {
		require.Equal(t, http.StatusServiceUnavailable, pub.code, "/publish with Redis cut off: %s", pub)
		require.NotEmpty(t, pub.retryAfter, "a 503 says when to retry")
	} else {
		require.Equal(t, http.StatusAccepted, pub.code, "/publish with only PostgreSQL cut off: %s", pub)
	}

	// The survivor takes over everything but what the cut-off replica may
	// still hold: all of it when Redis is cut.
	var reclaimed time.Duration
	if cut.cuts("redis") {
		reclaimed = eventually(t, time.Minute, "the survivor reclaims the cut-off replica's messages", func() bool {
			return len(s.pendingOf(cutOff.consumers()...)) == 0
		})
	}
	res := r.wait(t)
	tookOver := eventually(t, 90*time.Second, "the survivor consumes everything the cut-off replica does not hold", func() bool {
		return s.lag() == 0 && len(s.pendingOf(survivor.consumers()...)) == 0 &&
			(cut.cuts("redis") || s.pendingTotal() == int64(len(s.pendingOf(cutOff.consumers()...))))
	})
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
	cutFor := time.Since(cutAt)

	for _, name := range cut.links {
		if cut.drop {
			ns.link(name).Pass()
		} else {
			ns.link(name).Up()
		}
	}
	healed := time.Now()
	recovered := eventually(t, time.Minute, "/health inside the namespace says healthy again", func() bool {
		code, _ := healthInside(t, cutOff)
		return code == http.StatusOK
	})
	consumedBefore := metric(t, cutOff, "logagg_consumed_events_total", "")
	r2 := publish(c, after, 0.3, seed+100, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 10_000})
	res2 := r2.wait(t)
	all := append(slices.Clone(r.events), r2.events...)
	if pub.code == http.StatusAccepted {
		all = append(all, pub.event)
	}
	keys := keysOf(t, all)
	st := s.requireExact(t, c, want{sent: int64(len(all)), resent: true, unique: int64(len(keys)), keys: keys})
	resumed := time.Since(healed)
	require.Greater(t, metric(t, cutOff, "logagg_consumed_events_total", ""), consumedBefore, "the cut-off replica consumes again after the cut heals")
	stopAll(t, cutOff, survivor)

	t.Logf("partition of 1 of 2 replicas (%s): %d + %d events (%.0f%% duplicates), cut %s after the start, at %d/%d published",
		cut, events, after, 100*float64(len(all)-len(keys))/float64(len(all)), cutAt.Sub(r.start).Round(time.Millisecond), sentAtCut, events)
	t.Logf("  cut while in a consume transaction, holding %d messages (deliveries up to %d); /health inside said %v after %s; /publish inside answered %d in %s",
		len(held), maxDeliveries(held), body, noticed.Round(time.Millisecond), pub.code, pub.took.Round(time.Millisecond))
	if cut.cuts("redis") {
		t.Logf("  the survivor reclaimed them %s after the cut (CLAIM_IDLE 2s) and had consumed everything %s after it; healed after %s",
			reclaimed.Round(time.Millisecond), tookOver.Round(time.Millisecond), cutFor.Round(time.Millisecond))
	} else {
		t.Logf("  the survivor had consumed everything else %s after the cut; the cut-off replica still held %d messages (deliveries up to %d); healed after %s",
			tookOver.Round(time.Millisecond), len(stillHeld), maxDeliveries(stillHeld), cutFor.Round(time.Millisecond))
	}
	t.Logf("  healthy again %s after the heal, everything drained %s after it; the publisher retried %d requests",
		recovered.Round(time.Millisecond), resumed.Round(time.Millisecond), res.Retries+res2.Retries)
	logEnd(t, st)
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
}
