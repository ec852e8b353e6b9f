//go:build faults

package faults

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The checker reads /stats from every replica several times a second
// while the nemesis works, and reports the first read that breaks a
// promise at once.
//
// Every counter of /stats but queued is a lifetime count of the system,
// not of a process: received, unique_processed, duplicate_dropped,
// dead_lettered, payload_conflicts and topics are committed in PostgreSQL,
// and published is in Redis, whose append-only file is fsynced before any
// answer that could show a new value. A replica restarted is a new process
// reading the same counters, so its first read must not fall below what its
// predecessor, or any other replica, read before it. More than that: a
// read that began after another ended sees every commit that one saw,
// whichever replicas served them, across restarts of PostgreSQL (which
// makes a commit visible only once it is on disk, with synchronous_commit
// on) and of Redis. So the checker holds each counter to the highest value
// of any read that ended before it began, which includes one replica's
// own earlier reads. Only uptime_seconds is a process's own, and queued
// goes down by design; it is never negative, though, since a replica reads
// PostgreSQL's counters before Redis's and nothing is consumed before it
// is published.

// statsRead is the part of /stats the checker looks at. Published and
// Queued are absent while the replica cannot reach Redis.
type statsRead struct {
	Received         int64  `json:"received"`
	UniqueProcessed  int64  `json:"unique_processed"`
	DuplicateDropped int64  `json:"duplicate_dropped"`
	Topics           int64  `json:"topics"`
	DeadLettered     int64  `json:"dead_lettered"`
	PayloadConflicts int64  `json:"payload_conflicts"`
	Published        *int64 `json:"published"`
	Queued           *int64 `json:"queued"`
}

// lifetimeCounters are the counters that never go down; ok is false when
// the read does not hold the counter.
var lifetimeCounters = []struct {
	name  string
	value func(statsRead) (v int64, ok bool)
}{
	{"received", func(s statsRead) (int64, bool) { return s.Received, true }},
	{"unique_processed", func(s statsRead) (int64, bool) { return s.UniqueProcessed, true }},
	{"duplicate_dropped", func(s statsRead) (int64, bool) { return s.DuplicateDropped, true }},
	{"topics", func(s statsRead) (int64, bool) { return s.Topics, true }},
	{"dead_lettered", func(s statsRead) (int64, bool) { return s.DeadLettered, true }},
	{"payload_conflicts", func(s statsRead) (int64, bool) { return s.PayloadConflicts, true }},
	{"published", func(s statsRead) (int64, bool) {
		if s.Published == nil {
			return 0, false
		}
		return *s.Published, true
	}},
}

// highMark is the highest value of a counter among the reads that have
// ended, and which read it was.
type highMark struct {
	value   int64
	replica string
	ended   time.Duration
}

// sample is one read, kept for the report.
type sample struct {
	at        time.Duration // when the read ended
	received  int64
	published int64 // -1 when the read had none, and queued too
	queued    int64
}

type checker struct {
	members []*member
	rdb     *redis.Client
	start   time.Time
	http    *http.Client
	every   time.Duration

	mu      sync.Mutex
	high    map[string]highMark
	samples []sample

	reads, unanswered atomic.Int64
	highestDelivery   atomic.Int64

	alarm  *alarm
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startChecker reads every member's /stats every period until stop, and
// raises alarm on the first read that breaks a promise. It reads the
// highest delivery count from rdb, unless rdb is nil.
func startChecker(members []*member, rdb *redis.Client, start time.Time, every time.Duration, alarm *alarm) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{
		members: members, rdb: rdb, start: start, every: every,
		http:   &http.Client{Timeout: time.Second},
		high:   map[string]highMark{},
		alarm:  alarm,
		cancel: cancel,
	}
	for _, m := range members {
		c.done.Go(func() { c.watchReplica(ctx, m) })
	}
	if rdb != nil {
		c.done.Go(func() { c.watchDeliveries(ctx) })
	}
	return c
}

// stop ends the reads and waits for them.
func (c *checker) stop() {
	c.cancel()
	c.done.Wait()
}

func (c *checker) watchReplica(ctx context.Context, m *member) {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		if err := m.diedUnbidden(); err != nil {
			c.alarm.raise(err)
			return
		}
		if err := c.readOnce(ctx, m); err != nil {
			c.alarm.raise(err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// readOnce reads m's /stats and checks it against the reads that ended
// before it began. A replica that does not answer, or answers 503
// because PostgreSQL is down, is passed over.
func (c *checker) readOnce(ctx context.Context, m *member) error {
	c.mu.Lock()
	floor := make(map[string]highMark, len(c.high))
	for k, v := range c.high {
		floor[k] = v
	}
	c.mu.Unlock()
	began := time.Since(c.start)
	st, ok := c.read(ctx, m.url())
	ended := time.Since(c.start)
	if !ok {
		c.unanswered.Add(1)
		return nil
	}
	c.reads.Add(1)
	where := fmt.Sprintf("/stats of %s read from %s to %s", m.name, at(began), at(ended))
	if st.Received != st.UniqueProcessed+st.DuplicateDropped {
		return fmt.Errorf("%s: received %d != unique_processed %d + duplicate_dropped %d",
			where, st.Received, st.UniqueProcessed, st.DuplicateDropped)
	}
	if st.DeadLettered != 0 {
		return fmt.Errorf("%s: dead_lettered %d: the soak sends no poison, so a good message was dead-lettered", where, st.DeadLettered)
	}
	if st.PayloadConflicts != 0 {
		return fmt.Errorf("%s: payload_conflicts %d: every duplicate the soak sends repeats its original byte for byte", where, st.PayloadConflicts)
	}
	if st.Queued != nil && *st.Queued < 0 {
		// The counters are read from PostgreSQL first and Redis second, and
		// nothing is consumed before it is published.
		return fmt.Errorf("%s: queued %d: published %d is below received %d + dead_lettered %d",
			where, *st.Queued, *st.Published, st.Received, st.DeadLettered)
	}
	for _, counter := range lifetimeCounters {
		v, ok := counter.value(st)
		if !ok {
			continue
		}
		if f, seen := floor[counter.name]; seen && v < f.value {
			whose := "another replica, " + f.replica + ","
			if f.replica == m.name {
				whose = "this replica"
			}
			return fmt.Errorf("%s: %s went down to %d from the %d that %s read by %s",
				where, counter.name, v, f.value, whose, at(f.ended))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, counter := range lifetimeCounters {
		if v, ok := counter.value(st); ok && v > c.high[counter.name].value {
			c.high[counter.name] = highMark{value: v, replica: m.name, ended: ended}
		}
	}
	published, queued := int64(-1), int64(-1)
	if st.Published != nil {
		published, queued = *st.Published, *st.Queued
	}
	c.samples = append(c.samples, sample{at: ended, received: st.Received, published: published, queued: queued})
	return nil
}

// read gets url's /stats; ok is false when it did not answer 200.
func (c *checker) read(ctx context.Context, url string) (st statsRead, ok bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stats", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, false
	}
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// watchDeliveries keeps the highest delivery count among pending messages,
// read from Redis every half second, for the report.
func (c *checker) watchDeliveries(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		p, err := c.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: stream, Group: group, Start: "-", End: "+", Count: 100000,
		}).Result()
		if err == nil {
			if d := maxDeliveries(p); d > c.highestDelivery.Load() {
				c.highestDelivery.Store(d)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// alarm carries the first failure found in the background to the test's
// goroutine, which alone may fail the test.
type alarm struct {
	once sync.Once
	c    chan error
}

func newAlarm() *alarm { return &alarm{c: make(chan error, 1)} }

// raise reports err, unless a failure was reported before.
func (a *alarm) raise(err error) { a.once.Do(func() { a.c <- err }) }

// readsSoFar is the samples so far, in order of their ends.
func (c *checker) readsSoFar() []sample {
	c.mu.Lock()
	out := append([]sample(nil), c.samples...)
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	return out
}

// fakeReplica serves /stats from reply, which sees how many reads came
// before; it stands for a replica in the checker's own test.
func fakeReplica(t *testing.T, name string, reply func(read int) string) *member {
	t.Helper()
	var reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply(int(reads.Add(1)-1)))
	}))
	t.Cleanup(srv.Close)
	port, err := strconv.Atoi(srv.URL[strings.LastIndexByte(srv.URL, ':')+1:])
	require.NoError(t, err)
	return &member{name: name, port: port, state: "running"}
}

// statsJSON is a /stats answer; published < 0 leaves published and queued
// out, as a replica that cannot reach Redis does.
func statsJSON(received, unique, duplicates, published, dead int64) string {
	out := fmt.Sprintf(`{"received":%d,"unique_processed":%d,"duplicate_dropped":%d,"topics":3,"dead_lettered":%d,"payload_conflicts":0,"status":"healthy"`,
		received, unique, duplicates, dead)
	if published >= 0 {
		out += fmt.Sprintf(`,"published":%d,"queued":%d`, published, published-received-dead)
	} else {
		out += `,"published":null,"queued":null`
	}
	return out + "}"
}

// growing answers like replicas of one system whose counters grow with
// every read, whichever replica serves it; with redisComesAndGoes, every
// other answer lacks published and queued.
var served atomic.Int64

func growing(redisComesAndGoes bool) func(int) string {
	return func(read int) string {
		n := served.Add(1)
		if redisComesAndGoes && read%2 == 1 {
			return statsJSON(100+n, 70+n, 30, -1, 0)
		}
		return statsJSON(100+n, 70+n, 30, 200+n, 0)
	}
}

// TestCheckerCatchesBrokenPromises feeds the checker replicas that break
// one promise each, and one that breaks none while Redis comes and goes.
func TestCheckerCatchesBrokenPromises(t *testing.T) {
	t.Parallel()
	steady := func(int) string { return statsJSON(100, 70, 30, 120, 0) }
	for _, tc := range []struct {
		name    string
		replies []func(read int) string // one replica each
		want    string                  // in the alarm; "" for none
	}{
		{
			name:    "received is not unique + duplicates",
			replies: []func(int) string{func(int) string { return statsJSON(100, 70, 29, 120, 0) }},
			want:    "received 100 != unique_processed 70 + duplicate_dropped 29",
		},
		{
			name: "a counter goes down on one replica",
			replies: []func(int) string{func(read int) string {
				if read < 3 {
					return statsJSON(100, 70, 30, 120, 0)
				}
				return statsJSON(99, 70, 29, 120, 0)
			}},
			want: "received went down to 99 from the 100 that this replica read",
		},
		{
			name: "published goes down from one replica to another",
			replies: []func(int) string{steady, func(read int) string {
				// Once its reads begin after the first replica's ended.
				return statsJSON(100, 70, 30, 110, 0)
			}},
			want: "published went down to 110 from the 120 that another replica, r1, read",
		},
		{
			name:    "queued below zero",
			replies: []func(int) string{func(int) string { return statsJSON(100, 70, 30, 90, 0) }},
			want:    "queued -10",
		},
		{
			name:    "a dead letter",
			replies: []func(int) string{func(int) string { return statsJSON(100, 70, 30, 121, 1) }},
			want:    "dead_lettered 1",
		},
		{
			name:    "published absent while Redis is down is not a decrease",
			replies: []func(int) string{growing(true), growing(false)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var members []*member
			for i, reply := range tc.replies {
				members = append(members, fakeReplica(t, fmt.Sprintf("r%d", i+1), reply))
			}
			a := newAlarm()
			c := startChecker(members, nil, time.Now(), 5*time.Millisecond, a)
			defer c.stop()
			if tc.want == "" {
				deadline := time.Now().Add(10 * time.Second)
				for c.reads.Load() < 40 && time.Now().Before(deadline) {
					select {
					case err := <-a.c:
						t.Fatalf("alarm on promises kept: %v", err)
					case <-time.After(5 * time.Millisecond):
					}
				}
				require.GreaterOrEqual(t, c.reads.Load(), int64(40), "reads")
				require.Empty(t, a.c, "no alarm")
				return
			}
			select {
			case err := <-a.c:
				require.ErrorContains(t, err, tc.want)
			case <-time.After(10 * time.Second):
				t.Fatalf("no alarm within 10s, after %d reads", c.reads.Load())
			}
		})
	}
}
