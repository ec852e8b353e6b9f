//go:build faults

package faults

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// TestSIGTERMUnderLoad stops one of two replicas with SIGTERM while events
// are published through both. It must stop taking requests, finish and
// acknowledge the batches it holds, and exit 0, leaving nothing pending:
// CLAIM_IDLE is a minute here, so anything it left behind would still show
// under its consumers' names when it has exited.
func TestSIGTERMUnderLoad(t *testing.T) {
	const events = 100_000
	s := newSystem(t, map[string]string{"CLAIM_IDLE": "60s"})
	leaving, staying := s.start("leaving", nil), s.start("staying", nil)
	c := client(leaving, staying)

	r := publish(c, events, 0.3, 12, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4})
	eventually(t, 2*time.Minute, "half the events published", func() bool { return r.sent.Load() >= events/2 })

	// Catch the replica holding messages, then ask it to stop.
	var held int
	eventually(t, 10*time.Second, "the leaving replica holds messages", func() bool {
		require.NoError(t, freeze(leaving.proc))
		held = len(s.pendingOf(leaving.consumers()...))
		if held == 0 {
			require.NoError(t, thaw(leaving.proc))
		}
		return held > 0
	})
	atStop := stats(client(staying))
	require.NoError(t, leaving.proc.Signal(syscall.SIGTERM))
	require.NoError(t, thaw(leaving.proc))
	stopped := time.Now()
	require.NoError(t, leaving.proc.Wait(30*time.Second), "exit 0 within the shutdown timeout")
	exitTook := time.Since(stopped)
	left := s.pendingOf(leaving.consumers()...)
	require.Empty(t, left, "nothing left pending by the stopped replica")
	members, err := s.rdb.XInfoConsumers(context.Background(), stream, group).Result()
	require.NoError(t, err)
	for _, m := range members {
		require.NotEqual(t, leaving.name, m.Name, "the stopped replica left the consumer group")
	}

	res := r.wait(t)
	st := s.requireExact(t, client(staying), want{
		sent: events, resent: true, unique: int64(r.unique), keys: keysOf(t, r.events),
	})
	took := time.Since(r.start)
	staying.stop(t, 30*time.Second)
	require.Zero(t, s.pendingTotal())

	r.logHeadline(t, "SIGTERM under load", took)
	t.Logf("  SIGTERM at %d/%d received while holding %d messages; exit 0 after %s, 0 left pending",
		atStop.Received, events, held, exitTook.Round(time.Millisecond))
	t.Logf("  %d publish requests failed over to the other replica, %d retried after 429/503",
		failovers(c), res.Retries)
	logEnd(t, st)
}
