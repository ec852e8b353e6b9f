//go:build faults

package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
)

// The nemesis breaks the soak's system on a schedule drawn from a seed: the
// same seed and duration give the same faults, at the same planned times,
// on the same targets. Each fault breaks one thing and heals it after a
// while; at most two are under way at once, and never two on one target.

// faultKind is one way of breaking the system. The plan draws kinds by
// weight among those whose target is free; adding a kind is adding an
// entry to faultKinds (and changes the plan a seed draws: a seed replays
// a run of the same code). A network partition — a replica cut off from
// PostgreSQL, Redis or both — fits as one more replica kind, whose inject
// cuts the link of the replica's network namespace and whose heal
// restores it, once members are launched in namespaces of their own.
type faultKind struct {
	name   string
	target target
	weight int
	// Each fault lasts from shortest to longest, drawn uniformly.
	shortest, longest time.Duration
	// variants, when any, are how the fault may be done, drawn with it.
	variants []string
	// inject breaks the target and heal mends it. Both run on the test's
	// goroutine, so they may fail the test.
	inject, heal func(n *nemesis, f *fault)
}

// target is what a fault breaks.
type target int

const (
	oneReplica target = iota
	thePostgres
	theRedis
)

var faultKinds = []faultKind{
	{
		// A replica dies with what it holds (caught holding some) and is
		// started again where it was, under the same consumer name.
		name: "kill", target: oneReplica, weight: 3, shortest: 0, longest: 5 * time.Second,
		inject: func(n *nemesis, f *fault) {
			m := n.member(f.Target)
			f.Held = n.catchHolding(m)
			m.kill(n.t)
		},
		heal: func(n *nemesis, f *fault) {
			m := n.member(f.Target)
			m.launch(n.s)
			n.watch(f, func() bool { code, _ := health(m.current()); return code != 0 })
		},
	},
	{
		// A replica stops in its tracks (SIGSTOP), caught holding
		// messages, for longer than CLAIM_IDLE about half the time, so
		// that others take over what it holds; when it goes on, it finds
		// them gone.
		name: "pause", target: oneReplica, weight: 3, shortest: 500 * time.Millisecond, longest: 6 * time.Second,
		inject: func(n *nemesis, f *fault) {
			f.Held = n.catchHolding(n.member(f.Target))
		},
		heal: func(n *nemesis, f *fault) {
			m := n.member(f.Target)
			m.resume(n.t)
			n.watch(f, func() bool { code, _ := health(m.current()); return code != 0 })
		},
	},
	{
		// PostgreSQL stops: fast (transactions rolled back, connections
		// closed) or immediate (a crash, recovered from the WAL at the
		// start), and starts again.
		name: "postgres", target: thePostgres, weight: 2, shortest: time.Second, longest: 6 * time.Second,
		variants: []string{"fast", "immediate"},
		inject: func(n *nemesis, f *fault) {
			f.Held = n.s.pendingTotal()
			if err := n.s.pg.ctl("stop", "-m", f.Variant); err != nil {
				n.t.Fatalf("pg_ctl stop -m %s: %v", f.Variant, err)
			}
		},
		heal: func(n *nemesis, f *fault) {
			n.s.pg.Start()
			n.watch(f, func() bool { return n.anyHealth("database", "connected") })
		},
	},
	{
		// Redis dies (kill -9) and starts again from its append-only file.
		name: "redis", target: theRedis, weight: 2, shortest: time.Second, longest: 4 * time.Second,
		inject: func(n *nemesis, f *fault) {
			f.Held = n.s.pendingTotal()
			n.s.redis.Kill()
		},
		heal: func(n *nemesis, f *fault) {
			n.s.redis.Start()
			n.watch(f, func() bool { return n.anyHealth("redis", "connected") })
		},
	},
}

func kindNamed(name string) faultKind {
	for _, k := range faultKinds {
		if k.name == name {
			return k
		}
	}
	panic("no fault kind " + name)
}

// fault is one fault of the plan, and what became of it. Times are from
// the start of the load.
type fault struct {
	Kind    string
	Target  string // a replica's name, "postgres" or "redis"
	Variant string
	// Planned is when the plan breaks it, and Down how long it stays
	// broken.
	Planned, Down time.Duration
	// Began and Healed are when it was broken and mended; Recovered is
	// when the target served again (a replica answering /health, the
	// server named connected by a replica's /health), 0 if never.
	Began, Healed, Recovered time.Duration
	// Held is how many messages were pending when it broke: the replica's
	// own, or all of them for PostgreSQL and Redis; -1 when Redis could
	// not say.
	Held int64
}

// planFaults draws the faults of a soak of the given length on the named
// replicas. None starts in the first warm-up, each ends before the load
// does, at most two overlap, and no two overlap on the same target. The
// plan allows each fault a margin after its planned end, since mending
// takes time (a replica restarts, PostgreSQL replays its WAL).
func planFaults(seed int64, length time.Duration, replicas []string) []*fault {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973))
	const margin = 3 * time.Second
	warmUp := min(10*time.Second, length/10)
	last := length - margin
	between := func() time.Duration { return time.Second + time.Duration(rng.Int64N(int64(5*time.Second))) }
	var plan []*fault
	busyUntil := map[string]time.Duration{} // by target
	for at := warmUp; at < last; at += between() {
		var under []string // targets of faults under way at
		for target, until := range busyUntil {
			if until > at {
				under = append(under, target)
			}
		}
		if len(under) >= 2 {
			continue
		}
		free := func(target string) bool { return busyUntil[target] <= at }
		var candidates []faultKind
		weights := 0
		for _, k := range faultKinds {
			if k.target == oneReplica && len(freeReplicas(replicas, free)) > 0 ||
				k.target == thePostgres && free("postgres") || k.target == theRedis && free("redis") {
				candidates = append(candidates, k)
				weights += k.weight
			}
		}
		if len(candidates) == 0 {
			continue
		}
		w := rng.IntN(weights)
		k := candidates[0]
		for _, c := range candidates {
			if w < c.weight {
				k = c
				break
			}
			w -= c.weight
		}
		f := &fault{Kind: k.name, Planned: at}
		switch k.target {
		case oneReplica:
			names := freeReplicas(replicas, free)
			f.Target = names[rng.IntN(len(names))]
		case thePostgres:
			f.Target = "postgres"
		case theRedis:
			f.Target = "redis"
		}
		if len(k.variants) > 0 {
			f.Variant = k.variants[rng.IntN(len(k.variants))]
		}
		f.Down = k.shortest + time.Duration(rng.Int64N(int64(k.longest-k.shortest)+1))
		f.Down = min(f.Down, last-at)
		busyUntil[f.Target] = at + f.Down + margin
		plan = append(plan, f)
	}
	return plan
}

func freeReplicas(replicas []string, free func(string) bool) []string {
	var out []string
	for _, r := range replicas {
		if free(r) {
			out = append(out, r)
		}
	}
	return out
}

// deliveryLimit is the soak's MAX_DELIVERIES for a plan. A message is
// delivered again only when its holder lost it — killed, paused past
// CLAIM_IDLE, or unable to acknowledge while Redis was down — so one fault
// costs a message one delivery at most, and no good message can reach
// 1 + len(plan) deliveries. The limit is twice the faults and ten more, to
// leave room for a claim refresh that a loaded machine delayed past
// CLAIM_IDLE; within the range MAX_DELIVERIES accepts. A dead letter in
// the soak is then a defect, not bad luck.
func deliveryLimit(plan []*fault) int {
	return min(10+2*len(plan), 1000)
}

// nemesis carries out a plan on a system.
type nemesis struct {
	t       *testing.T
	s       *system
	members []*member
	start   time.Time
	log     func(format string, args ...any)

	mu       sync.Mutex // guards the faults' Recovered
	watchers sync.WaitGroup
	quit     chan struct{} // closed to stop the watchers early
	stopOnce sync.Once
}

func (n *nemesis) member(name string) *member {
	for _, m := range n.members {
		if m.name == name {
			return m
		}
	}
	n.t.Fatalf("no replica %s", name)
	return nil
}

// since is the time from the start of the load.
func (n *nemesis) since() time.Duration { return time.Since(n.start) }

// run carries out plan: it breaks each fault at its planned time, or as
// soon as after it that its target is free and fewer than two faults are
// under way, and heals it Down after it broke. It returns early with the
// error of stop, which reports failures found meanwhile.
func (n *nemesis) run(plan []*fault, stop <-chan error) error {
	var under []*fault // broken, not yet healed, earliest heal first
	next := 0
	for next < len(plan) || len(under) > 0 {
		now := n.since()
		var due time.Duration
		var act func()
		switch {
		case len(under) > 0 && (next == len(plan) || !n.mayBreak(plan[next], under) ||
			under[0].Began+under[0].Down <= max(plan[next].Planned, now)):
			f := under[0]
			due = f.Began + f.Down
			act = func() {
				under = under[1:]
				kindNamed(f.Kind).heal(n, f)
				f.Healed = n.since()
				n.log("%s healed: %s", at(f.Healed), describe(f))
			}
		default:
			f := plan[next]
			due = f.Planned
			act = func() {
				next++
				f.Began = n.since()
				kindNamed(f.Kind).inject(n, f)
				late := ""
				if f.Began-f.Planned > 100*time.Millisecond {
					late = fmt.Sprintf(" (planned %s)", at(f.Planned))
				}
				n.log("%s%s %s for %s, holding %d messages", at(f.Began), late, describe(f), f.Down.Round(time.Millisecond), f.Held)
				under = append(under, f)
				sortByHeal(under)
			}
		}
		if wait := due - now; wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case err := <-stop:
				timer.Stop()
				return err
			case <-timer.C:
			}
		}
		act()
	}
	return nil
}

// mayBreak reports whether f may break now: fewer than two faults are
// under way, and none on its target.
func (n *nemesis) mayBreak(f *fault, under []*fault) bool {
	if len(under) >= 2 {
		return false
	}
	for _, u := range under {
		if u.Target == f.Target {
			return false
		}
	}
	return true
}

func sortByHeal(under []*fault) {
	for i := len(under) - 1; i > 0 && under[i].Began+under[i].Down < under[i-1].Began+under[i-1].Down; i-- {
		under[i], under[i-1] = under[i-1], under[i]
	}
}

// watch records when f's target serves again, polling served in the
// background; it gives up after two minutes, leaving Recovered 0.
func (n *nemesis) watch(f *fault, served func() bool) {
	n.watchers.Go(func() {
		deadline := time.After(2 * time.Minute)
		for !served() {
			select {
			case <-n.quit:
				return
			case <-deadline:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		n.mu.Lock()
		f.Recovered = n.since()
		n.mu.Unlock()
	})
}

// catchHolding stops m (SIGSTOP) at a moment when it holds messages, so
// that a kill or a pause takes something with it: a replica under a
// steady load holds its messages for a few milliseconds at a time. It
// tries for up to two seconds, then leaves m stopped whatever it holds,
// and returns what it holds (-1 when Redis cannot say).
func (n *nemesis) catchHolding(m *member) int64 {
	deadline := time.Now().Add(2 * time.Second)
	for {
		m.pause(n.t)
		held := n.heldBy(m.name)
		if held != 0 || time.Now().After(deadline) {
			return held
		}
		m.resume(n.t)
		time.Sleep(time.Duration(3+rand.IntN(8)) * time.Millisecond)
	}
}

// heldBy is how many messages the replica named name holds pending, or -1
// when Redis cannot say.
func (n *nemesis) heldBy(name string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	p, err := n.s.rdb.XPending(ctx, stream, group).Result()
	if err != nil {
		return -1
	}
	return p.Consumers[name]
}

// anyHealth reports whether some replica's /health names part as state.
func (n *nemesis) anyHealth(part, state string) bool {
	for _, m := range n.members {
		if _, body := health(m.current()); body[part] == state {
			return true
		}
	}
	return false
}

// wait waits for the watchers, after the last heal.
func (n *nemesis) wait() { n.watchers.Wait() }

// stop stops the watchers and waits for them.
func (n *nemesis) stop() {
	n.stopOnce.Do(func() { close(n.quit) })
	n.watchers.Wait()
}

func describe(f *fault) string {
	switch f.Kind {
	case "kill":
		return "kill -9 " + f.Target
	case "pause":
		return "SIGSTOP " + f.Target
	case "postgres":
		return "PostgreSQL stop -m " + f.Variant
	case "redis":
		return "Redis kill -9"
	}
	return f.Kind + " " + f.Target
}

// at writes a time from the start of the load as "+12.3s".
func at(d time.Duration) string { return fmt.Sprintf("+%.1fs", d.Seconds()) }

// member is one of the soak's replicas: a name and a port, and the process
// serving there now, which the nemesis may kill and start again.
type member struct {
	name string
	port int
	mu   sync.Mutex
	r    *replica
	// state is "running", "paused" or "killed": what the nemesis made of
	// the process, so that the checker can tell a death it did not cause.
	state string
}

func newMember(t *testing.T, name string) *member {
	return &member{name: name, port: testenv.FreePort(t), state: "running"}
}

func (m *member) url() string { return "http://127.0.0.1:" + strconv.Itoa(m.port) }

func (m *member) current() *replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.r
}

// launch starts the member's process without waiting for it.
func (m *member) launch(s *system) {
	r := s.launch(m.name, map[string]string{"PORT": strconv.Itoa(m.port)})
	m.mu.Lock()
	defer m.mu.Unlock()
	m.r, m.state = r, "running"
}

func (m *member) kill(t *testing.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = "killed"
	if err := m.r.proc.Kill(); err != nil {
		t.Fatalf("kill -9 %s: %v", m.name, err)
	}
}

func (m *member) pause(t *testing.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = "paused"
	if err := freeze(m.r.proc); err != nil {
		t.Fatalf("SIGSTOP %s: %v", m.name, err)
	}
}

func (m *member) resume(t *testing.T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = "running"
	if err := thaw(m.r.proc); err != nil {
		t.Fatalf("SIGCONT %s: %v", m.name, err)
	}
}

// diedUnbidden returns an error when the member's process ended without
// the nemesis killing it.
func (m *member) diedUnbidden() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.r == nil || m.state == "killed" || !m.r.proc.Exited() {
		return nil
	}
	return fmt.Errorf("replica %s exited by itself (exit code %d):\n%s", m.name, m.r.proc.ExitCode(), tail(m.r.proc.Output(), 3000))
}

// TestPlanFaults checks the nemesis's plans: the same seed gives the same
// faults, another seed others; none starts in the warm-up or ends after
// the load; at most two overlap and never two on one target; a long soak
// draws every kind.
func TestPlanFaults(t *testing.T) {
	t.Parallel()
	replicas := []string{"r1", "r2", "r3"}
	require.Equal(t, planFaults(7, 2*time.Minute, replicas), planFaults(7, 2*time.Minute, replicas), "same seed")
	require.NotEqual(t, planFaults(7, 2*time.Minute, replicas), planFaults(8, 2*time.Minute, replicas), "another seed")
	for seed := range int64(50) {
		for _, length := range []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute} {
			plan := planFaults(seed, length, replicas)
			require.NotEmpty(t, plan, "seed %d, %s", seed, length)
			kinds := map[string]bool{}
			for i, f := range plan {
				kinds[f.Kind] = true
				require.GreaterOrEqual(t, f.Planned, min(10*time.Second, length/10), "seed %d: fault %d starts after the warm-up", seed, i)
				require.LessOrEqual(t, f.Planned+f.Down, length, "seed %d: fault %d ends within the load", seed, i)
				if kindNamed(f.Kind).target == oneReplica {
					require.Contains(t, replicas, f.Target)
				}
				overlapping := 0
				for j, g := range plan {
					if j == i || g.Planned > f.Planned || g.Planned+g.Down <= f.Planned {
						continue
					}
					// g is under way when f starts.
					overlapping++
					require.NotEqual(t, g.Target, f.Target, "seed %d: faults %d and %d on one target", seed, j, i)
				}
				require.LessOrEqual(t, overlapping, 1, "seed %d: fault %d starts with %d under way", seed, i, overlapping)
			}
			if length >= 10*time.Minute {
				require.Len(t, kinds, len(faultKinds), "seed %d: every kind in %s", seed, length)
			}
			require.GreaterOrEqual(t, deliveryLimit(plan), len(plan)+1)
			require.LessOrEqual(t, deliveryLimit(plan), 1000)
		}
	}
}
