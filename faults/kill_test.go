//go:build faults

package faults

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// TestKillOneOfTwoReplicasMidRun kills one of two replicas with SIGKILL
// while 200,000 events with 30% duplicates are being published through
// both and consumed by both. The killed replica dies holding messages it
// had read and not acknowledged — some of them already committed when the
// test can catch that moment — and the survivor reclaims them after
// CLAIM_IDLE. Every count must come out exact.
func TestKillOneOfTwoReplicasMidRun(t *testing.T) {
	const events = 200_000
	s := newSystem(t, nil)
	victim, survivor := s.start("victim", nil), s.start("survivor", nil)
	c := client(victim, survivor)

	// Paced so that the kill comes while events are still being published
	// as well as consumed.
	r := publish(c, events, 0.3, 11, loadgen.PublishOptions{BatchSize: 500, Concurrency: 4, Rate: 40_000})
	eventually(t, 2*time.Minute, "40% of the events received", func() bool { return stats(c).Received >= events*4/10 })

	// Freeze the victim until it is caught holding messages, preferably
	// some it has committed and not yet acknowledged, then kill it.
	var held, committedUnacked int64
	var heldIDs []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.NoError(t, freeze(victim.proc))
		p := s.pendingOf(victim.consumers()...)
		held, heldIDs = int64(len(p)), ids(p)
		if held > 0 {
			committedUnacked = s.committed(t, heldIDs)
		}
		if committedUnacked > 0 || (held > 0 && time.Now().After(deadline)) {
			break
		}
		require.NoError(t, thaw(victim.proc))
		require.False(t, time.Now().After(deadline.Add(time.Minute)), "the victim was never caught holding messages")
		time.Sleep(time.Duration(5+len(heldIDs)%7) * time.Millisecond)
	}
	killedAt := time.Now()
	sentAtKill := r.sent.Load()
	require.NoError(t, victim.proc.Kill())
	atKill := stats(client(survivor))
	require.Positive(t, held, "the victim was killed holding messages")

	reclaim := eventually(t, time.Minute, "the survivor reclaims the victim's messages", func() bool {
		n := int64(0)
		for _, c := range victim.consumers() {
			n += s.pending()[c]
		}
		return n == 0
	})
	res := r.wait(t)
	st := s.requireExact(t, client(survivor), want{
		sent: events, resent: true, unique: int64(r.unique), keys: keysOf(t, r.events),
	})
	took := time.Since(r.start)
	failed := metric(t, survivor, "logagg_consume_batches_total", `outcome="failed"`)
	consumedBySurvivor := metric(t, survivor, "logagg_consumed_events_total", "")
	require.Positive(t, consumedBySurvivor)
	survivor.stop(t, 30*time.Second)
	require.Zero(t, s.pendingTotal())

	r.logHeadline(t, "kill -9 of 1 of 2 replicas", took)
	t.Logf("  killed %s after the start, at %d/%d published and %d received, holding %d messages, %d of them committed and not acknowledged",
		killedAt.Sub(r.start).Round(time.Millisecond), sentAtKill, events, atKill.Received, held, committedUnacked)
	t.Logf("  survivor reclaimed them %s after the kill (CLAIM_IDLE 2s); %d publish requests failed over to the survivor, %d retried after 429/503; failed batches on the survivor %.0f",
		reclaim.Round(time.Millisecond), failovers(c), res.Retries, failed)
	t.Logf("  end: published %d, received %d = unique %d + duplicates %d, dead_lettered %d, rows %d, XPENDING 0",
		st.Published, st.Received, st.UniqueProcessed, st.DuplicateDropped, st.DeadLettered, st.UniqueProcessed)
}
