//go:build faults

package faults

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// waitHealth polls every replica's /health until check accepts it.
func waitHealth(t *testing.T, what string, check func(code int, body map[string]string) bool, replicas ...*replica) time.Duration {
	t.Helper()
	return eventually(t, time.Minute, what, func() bool {
		for _, r := range replicas {
			if !check(health(r)) {
				return false
			}
		}
		return true
	})
}

func databaseDown(code int, body map[string]string) bool {
	return code == http.StatusServiceUnavailable && body["status"] == "unhealthy" &&
		body["database"] == "disconnected" && body["redis"] == "connected"
}

func healthy(code int, body map[string]string) bool {
	return code == http.StatusOK && body["status"] == "healthy"
}

// TestPostgresRestartMidRun stops PostgreSQL (fast shutdown: open
// transactions are rolled back, connections cut) while 100,000 events are
// published and consumed by two replicas, keeps it down for a few
// CLAIM_IDLE periods, and starts it again. /publish keeps accepting (the
// queue is up), /health names the database as down, the consumers back off
// and resume by themselves, and nothing is dead-lettered or counted twice.
func TestPostgresRestartMidRun(t *testing.T) {
	const events = 100_000
	const outage = 6 * time.Second
	s, a, b, c := startTwo(t, nil)

	r := publish(c, events, 0.3, 13, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 15_000})
	eventually(t, 2*time.Minute, "a quarter of the events received", func() bool { return stats(c).Received >= events/4 })

	atStop := stats(c)
	s.pg.Stop()
	stopped := time.Now()
	noticed := waitHealth(t, "/health reports the database down", databaseDown, a, b)
	sentAtStop := r.sent.Load()
	time.Sleep(outage - time.Since(stopped))
	sentInOutage := r.sent.Load() - sentAtStop
	heldInOutage := s.pendingOf(append(a.consumers(), b.consumers()...)...)
	s.pg.Start()
	started := time.Now()
	recovered := waitHealth(t, "/health reports healthy again", healthy, a, b)

	res := r.wait(t)
	st := s.requireExact(t, c, want{sent: events, unique: int64(r.unique), keys: keysOf(t, r.events)})
	resumed := time.Since(started)
	took := time.Since(r.start)
	failed := metric(t, a, "logagg_consume_batches_total", `outcome="failed"`) +
		metric(t, b, "logagg_consume_batches_total", `outcome="failed"`)
	require.Positive(t, failed, "batches failed while the database was down")
	require.Positive(t, sentInOutage, "/publish accepted events while the database was down")
	stopAll(t, a, b)

	r.logHeadline(t, "PostgreSQL restart mid-run, publishing at up to 15,000 events/s", took)
	t.Logf("  stopped (fast) at %d/%d received; /health said database disconnected after %s; down %s; healthy again %s after the start, drained %s after it",
		atStop.Received, events, noticed.Round(time.Millisecond), outage, recovered.Round(time.Millisecond), resumed.Round(time.Millisecond))
	t.Logf("  during the outage /publish accepted %d events; consumers held %d messages (highest delivery count %d); %.0f batches failed and were retried; %d publish retries",
		sentInOutage, len(heldInOutage), maxDeliveries(heldInOutage), failed, res.Retries)
	logEnd(t, st)
}

// TestPostgresOutageWithIdleWorkers keeps PostgreSQL down for several
// times MAX_DELIVERIES × CLAIM_IDLE while one small batch is in flight and
// seven workers have nothing to do. The worker holding the batch keeps it
// for itself while it retries, so idle workers do not take it over again
// and again, raising its delivery count until good events are
// dead-lettered as undeliverable.
func TestPostgresOutageWithIdleWorkers(t *testing.T) {
	const claimIdle = 500 * time.Millisecond
	const deliveryLimit = 3
	s, a, b, c := startTwo(t, map[string]string{"CLAIM_IDLE": claimIdle.String(), "MAX_DELIVERIES": "3"})
	all := append(a.consumers(), b.consumers()...)

	s.pg.Stop()
	waitHealth(t, "/health reports the database down", databaseDown, a, b)
	events, unique := loadgen.Generate(loadgen.Plan{Events: 200, DupRate: 0.1, Seed: 14})
	_, err := c.Publish(context.Background(), events, loadgen.PublishOptions{BatchSize: 200})
	require.NoError(t, err)
	eventually(t, 10*time.Second, "a worker holds the batch", func() bool {
		held := int64(len(s.pendingOf(all...)))
		return held > 0 && held == s.rdb.XLen(context.Background(), stream).Val()
	})

	const outage = 4 * (deliveryLimit + 1) * claimIdle
	var highest int64
	start := time.Now()
	for time.Since(start) < outage {
		highest = max(highest, maxDeliveries(s.pendingOf(all...)))
		time.Sleep(20 * time.Millisecond)
	}
	s.pg.Start()
	waitHealth(t, "/health reports healthy again", healthy, a, b)

	st := s.requireExact(t, c, want{sent: 200, unique: int64(unique), keys: keysOf(t, events)})
	require.LessOrEqual(t, highest, int64(deliveryLimit), "delivery count while the holder was alive")
	stopAll(t, a, b)

	t.Logf("PostgreSQL down %s (CLAIM_IDLE %s, MAX_DELIVERIES %d) with 200 events in flight and 7 idle workers: highest delivery count %d",
		outage, claimIdle, deliveryLimit, highest)
	logEnd(t, st)
}
