//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/testenv"
)

// soakSettings are the soak's knobs, from the environment.
type soakSettings struct {
	duration time.Duration // SOAK_DURATION: how long the load runs
	seed     int64         // SOAK_SEED: draws the faults; random when unset
	report   string        // SOAK_REPORT: the report's directory; a new temporary one when unset
	rate     float64       // SOAK_RATE: events published per second (default 2000)
}

const (
	soakReplicas = 3
	soakDupRate  = 0.3
	// soakRound is how many seconds of load one generated set of events
	// covers; the load goes on a round at a time, so that a long soak does
	// not hold all its events at once.
	soakRound = 5 * time.Second
)

// replay is the command that runs the soak again with these settings.
func (cfg soakSettings) replay() string {
	return fmt.Sprintf("SOAK_SEED=%d SOAK_DURATION=%s SOAK_RATE=%g make soak", cfg.seed, cfg.duration, cfg.rate)
}

// readSoakSettings reads the settings, and skips the soak unless
// SOAK_DURATION is set: `make soak` sets it, and `make test-faults`, which
// runs the other scenarios of this package, leaves it out.
func readSoakSettings(t *testing.T) soakSettings {
	t.Helper()
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		t.Skip("the soak runs under `make soak` (SOAK_DURATION set)")
	}
	var cfg soakSettings
	var err error
	cfg.duration, err = time.ParseDuration(v)
	require.NoError(t, err, "SOAK_DURATION")
	require.GreaterOrEqual(t, cfg.duration, 30*time.Second, "SOAK_DURATION: at least 30s, for faults to fit after the warm-up")
	cfg.seed = rand.Int64N(1 << 40)
	if v := os.Getenv("SOAK_SEED"); v != "" {
		cfg.seed, err = strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "SOAK_SEED")
	}
	cfg.rate = 2000
	if v := os.Getenv("SOAK_RATE"); v != "" {
		cfg.rate, err = strconv.ParseFloat(v, 64)
		require.NoError(t, err, "SOAK_RATE")
		require.Positive(t, cfg.rate, "SOAK_RATE")
	}
	cfg.report = os.Getenv("SOAK_REPORT")
	if cfg.report == "" {
		cfg.report, err = os.MkdirTemp("", "logagg-soak-")
		require.NoError(t, err)
	}
	require.NoError(t, os.MkdirAll(cfg.report, 0o755))
	return cfg
}

// TestSoak runs three replicas under a steady load, with duplicates, for
// SOAK_DURATION while a nemesis kills them (kill -9, then a restart on the
// same port under the same name), pauses them (SIGSTOP, then SIGCONT),
// restarts PostgreSQL (fast or immediate) and kills and restarts Redis
// (from its append-only file), on a schedule drawn from SOAK_SEED, at most
// two faults at a time. A checker reads every replica's /stats several
// times a second and fails the soak at the first read that breaks a
// promise (see checker). When the load has ended and the queue drained,
// every event sent is stored once and nothing else is: the load sends a
// request again until it is answered 202, as a client that wants its
// events kept does, so a request that was in flight at a kill, and may
// have been queued before its answer was lost, is accepted in the end
// too. Then published == received, nothing was dead-lettered, and nothing
// is pending. The fault timeline, the throughput and the time to drain are
// written under SOAK_REPORT as JSON and an SVG chart.
func TestSoak(t *testing.T) {
	cfg := readSoakSettings(t)
	names := make([]string, soakReplicas)
	for i := range names {
		names[i] = fmt.Sprintf("r%d", i+1)
	}
	plan := planFaults(cfg.seed, cfg.duration, names)
	limit := deliveryLimit(plan)
	t.Logf("soak seed %d: %s at %.0f events/s (%.0f%% duplicates), %d replicas, %d faults planned, MAX_DELIVERIES %d; "+
		"replay with %s", cfg.seed, cfg.duration, cfg.rate, 100*soakDupRate, soakReplicas, len(plan), limit, cfg.replay())
	t.Logf("report: %s", cfg.report)

	s := newSystem(t, map[string]string{"MAX_DELIVERIES": strconv.Itoa(limit)})
	so := &soak{cfg: cfg, plan: plan, limit: limit, claimIdle: s.env["CLAIM_IDLE"], alarm: newAlarm()}
	for _, name := range names {
		m := newMember(t, name)
		m.launch(s)
		so.members = append(so.members, m)
	}
	urls := make([]string, len(so.members))
	for i, m := range so.members {
		testenv.WaitHealthy(t, m.url(), m.current().proc, 60*time.Second)
		urls[i] = m.url()
	}
	// A replica the nemesis killed is started again at the same address, so
	// the client tries it again 2 s after it failed; a paused one holds a
	// request without answering, so the client sends the request to
	// another after 1 s, a hundred times what /publish takes here.
	c := balanced(balancing{retryDown: 2 * time.Second, answerWithin: time.Second}, urls...)

	so.start = time.Now()
	so.checker = startChecker(so.members, s.rdb, so.start, 200*time.Millisecond, so.alarm)
	so.load = &load{c: c, seed: cfg.seed, rate: cfg.rate, start: so.start, accepted: map[int]int64{}}
	loadCtx, stopLoad := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		if err := so.load.run(loadCtx, so.start.Add(cfg.duration)); err != nil {
			so.alarm.raise(err)
		}
	}()
	so.nemesis = &nemesis{t: t, s: s, members: so.members, start: so.start, log: t.Logf, quit: make(chan struct{})}
	t.Cleanup(func() {
		stopLoad()
		<-loaded
		so.checker.stop()
		so.nemesis.stop()
		so.writeReport(t)
	})

	if err := so.nemesis.run(plan, so.alarm.c); err != nil {
		t.Fatalf("soak seed %d: %v", cfg.seed, err)
	}
	so.lastHealed = so.nemesis.since()
	select {
	case <-loaded:
	case err := <-so.alarm.c:
		t.Fatalf("soak seed %d: %v", cfg.seed, err)
	}
	so.loadEnded = so.nemesis.since()
	t.Logf("%s the load ended: %d events accepted", at(so.loadEnded), so.load.sent())

	// Drained: everything published was consumed and acknowledged.
	var st loadgen.Stats
	so.soakWait(t, 3*time.Minute, "the queue drains", func() bool {
		st = stats(c)
		return st.Published > 0 && st.Received+st.DeadLettered == st.Published && s.pendingTotal() == 0
	})
	so.drained = so.nemesis.since()
	so.nemesis.wait()
	so.checker.stop()
	select {
	case err := <-so.alarm.c:
		t.Fatalf("soak seed %d: %v", cfg.seed, err)
	default:
	}

	sent, unique, keys := so.load.keys(t)
	so.final = s.requireExact(t, c, want{sent: sent, resent: true, unique: unique, keys: keys})
	require.LessOrEqual(t, so.checker.highestDelivery.Load(), int64(limit), "highest delivery count")
	replicas := make([]*replica, len(so.members))
	for i, m := range so.members {
		replicas[i] = m.current()
	}
	stopAll(t, replicas...)
	so.passed = true
	so.logSummary(t)
}

// soak is one soak's parts and what it saw, for the report.
type soak struct {
	cfg       soakSettings
	plan      []*fault
	limit     int // MAX_DELIVERIES
	claimIdle string
	alarm     *alarm
	members   []*member
	start     time.Time
	checker   *checker
	load      *load
	nemesis   *nemesis

	lastHealed, loadEnded, drained time.Duration
	final                          loadgen.Stats
	passed                         bool
}

// soakWait polls cond every 50 ms until it holds, and fails the test when
// timeout passes or the alarm goes off first.
func (so *soak) soakWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("soak seed %d: %s: not within %s", so.cfg.seed, what, timeout)
		}
		select {
		case err := <-so.alarm.c:
			t.Fatalf("soak seed %d: %v", so.cfg.seed, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// load publishes a steady stream of events through the balanced client, a
// round of soakRound at a time, each round's events generated from the
// seed so that they can be generated again for the final check.
type load struct {
	c     *loadgen.Client
	seed  int64
	rate  float64
	start time.Time

	mu       sync.Mutex
	rounds   []*round
	accepted map[int]int64 // events answered 202, by second from the start
	retries  int           // requests sent again after 429, 503 or a network error
	resumed  int           // times a round's publish stopped and the rest was sent again
}

// round is one generated set of events, and which of them were accepted.
type round struct {
	plan     loadgen.Plan
	events   int
	unique   int
	accepted []bool
}

func (l *load) plan(i int) loadgen.Plan {
	return loadgen.Plan{
		Events: int(l.rate * soakRound.Seconds()), DupRate: soakDupRate,
		Seed: l.seed*1000 + int64(i), RunID: fmt.Sprintf("soak%d-%d", l.seed, i),
	}
}

// run publishes a round every soakRound until, each starting when it is
// due or as soon as the one before has been accepted.
func (l *load) run(ctx context.Context, until time.Time) error {
	for i := 0; ; i++ {
		due := l.start.Add(time.Duration(i) * soakRound)
		if !due.Before(until) {
			return nil
		}
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		if err := l.publishRound(ctx, i); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// publishRound publishes round i until every event of it has been
// accepted. loadgen's Publish retries a request after 429 or 503, and
// after a network error three times; when it gives up, the events not yet
// accepted are sent again, for up to two minutes. A round that starts late
// (the one before was held up by faults) goes faster, up to four times the
// rate, to end when it is due to: so the load offered over the soak stays
// the rate, as from clients that keep what they could not send and send it
// when they can.
func (l *load) publishRound(ctx context.Context, i int) error {
	dueEnd := l.start.Add(time.Duration(i+1) * soakRound)
	p := l.plan(i)
	events, unique := loadgen.Generate(p)
	r := &round{plan: p, events: len(events), unique: unique, accepted: make([]bool, len(events))}
	l.mu.Lock()
	l.rounds = append(l.rounds, r)
	l.mu.Unlock()
	giveUp := time.Now().Add(2 * time.Minute)
	for {
		var left []int
		for j, ok := range r.accepted {
			if !ok {
				left = append(left, j)
			}
		}
		if len(left) == 0 {
			return nil
		}
		batch := make([]json.RawMessage, len(left))
		for j, k := range left {
			batch[j] = events[k]
		}
		rate := l.rate
		if remaining := time.Until(dueEnd); remaining < soakRound {
			rate = min(float64(len(batch))/max(remaining.Seconds(), 0.001), 4*l.rate)
			rate = max(rate, l.rate)
		}
		res, err := l.c.Publish(ctx, batch, loadgen.PublishOptions{
			BatchSize: 100, Concurrency: 8, Rate: rate,
			Accepted: func(first, end int) {
				l.mu.Lock()
				defer l.mu.Unlock()
				for _, k := range left[first:end] {
					r.accepted[k] = true
				}
				l.accepted[int(time.Since(l.start)/time.Second)] += int64(end - first)
			},
		})
		l.mu.Lock()
		l.retries += res.Retries
		l.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			continue
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("round %d of the load: not every event accepted within 2 minutes: %w", i, err)
		}
		l.mu.Lock()
		l.resumed++
		l.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sent is how many events the load has had accepted.
func (l *load) sent() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, r := range l.rounds {
		for _, ok := range r.accepted {
			if ok {
				n++
			}
		}
	}
	return n
}

// keys generates the rounds' events again and returns how many were sent,
// how many distinct keys they had, and the keys; it requires that every
// event was accepted.
func (l *load) keys(t *testing.T) (sent, unique int64, keys []key) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range l.rounds {
		for j, ok := range r.accepted {
			require.True(t, ok, "event %d of round %d was never accepted", j, i)
		}
		events, u := loadgen.Generate(r.plan)
		sent += int64(len(events))
		unique += int64(u)
		keys = append(keys, keysOf(t, events)...)
	}
	return sent, unique, keys
}
