//go:build faults

package faults

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/shared/faultpoint"
	"github.com/logagg/logagg/shared/store"
)

// The paused-replica scenarios stop one of two replicas at a fault point
// (a faults build stops itself there exactly, with SIGSTOP), keep it
// stopped while the other reclaims what it held after CLAIM_IDLE, commits
// it, and drains the queue, then let it go on. The replica that wakes is a
// zombie: it still believes it holds its messages. Its late work must
// change no count, and it must notice that the messages were taken over:
// it logs so, counts them in logagg_taken_over_messages_total, and leaves
// them to their new owner. It then consumes like any replica.
//
// Whatever the point, a stopped process stops all its workers: any of them
// may be inside a transaction then, holding row locks that the survivor's
// inserts wait on, until DB_IDLE_IN_TRANSACTION_TIMEOUT ends it. At
// store.between-round-trips that is certain.

// claimIdle is newSystem's CLAIM_IDLE.
const claimIdle = 2 * time.Second

// takenOverMetric counts the messages a replica found taken over.
const takenOverMetric = "logagg_taken_over_messages_total"

// TestPauseInsideTheConsumeTransaction stops the zombie inside its consume
// transaction, between the round trip that inserted its events and the one
// that counts and commits them. Its transaction holds the new keys' row
// locks, and the survivor's insert of the same keys waits on them:
// PostgreSQL's idle_in_transaction_session_timeout
// (DB_IDLE_IN_TRANSACTION_TIMEOUT) ends that transaction, so that the
// survivor commits within CLAIM_IDLE and that bound. The zombie's second
// round trip then fails, and its retry finds the messages committed.
func TestPauseInsideTheConsumeTransaction(t *testing.T) {
	runPause(t, faultpoint.StoreBetweenRoundTrips, 21)
}

// TestPauseBetweenCommitAndAcknowledgement stops the zombie after its batch
// committed and before it acknowledged it: the survivor finds the
// reclaimed messages in the ledger and acknowledges them without counting
// them again, and the zombie's acknowledgement comes too late.
func TestPauseBetweenCommitAndAcknowledgement(t *testing.T) {
	runPause(t, faultpoint.WorkerAfterCommit, 22)
}

// TestPauseWhileFetching stops the zombie in its first fetch, once Redis
// has handed it messages and before any of its workers has them.
func TestPauseWhileFetching(t *testing.T) {
	runPause(t, faultpoint.QueueAfterFetch, 23)
}

func runPause(t *testing.T, point string, seed int64) {
	const events, more = 20_000, 10_000
	opts := loadgen.PublishOptions{BatchSize: 500, Concurrency: 2, Rate: 10_000}
	s := newSystem(t, nil)
	zombie := s.start("zombie", map[string]string{faultpoint.Variable: point})
	survivor := s.start("survivor", nil)
	// A stopped replica's kernel still accepts connections, and nothing
	// answers them: publish through the survivor only until the zombie wakes.
	c := client(survivor)

	r := publish(c, events, 0.3, seed, opts)
	eventually(t, time.Minute, "the zombie stops at "+point, zombie.proc.Stopped)
	pausedAt := time.Now()
	// Its announcement may still be in the pipe the test reads it from.
	eventually(t, 5*time.Second, "the zombie announces where it stopped", func() bool {
		return strings.Contains(zombie.proc.Output(), faultpoint.Announcement+point)
	})
	held := ids(s.pendingOf(zombie.consumers()...))
	require.NotEmpty(t, held, "the zombie stopped holding messages")
	committedAtPause := s.committed(t, held)
	inTransaction := point == faultpoint.StoreBetweenRoundTrips
	var idleAtPause int64
	switch point {
	case faultpoint.StoreBetweenRoundTrips:
		eventuallyEvery(t, 100*time.Millisecond, 10*time.Second, "the zombie's transaction idles, holding its locks", func() bool {
			idleAtPause = s.idleTransactions(t, time.Second)
			return idleAtPause > 0
		})
	case faultpoint.WorkerAfterCommit:
		require.Positive(t, committedAtPause, "the zombie stopped after a commit")
	case faultpoint.QueueAfterFetch:
		require.Zero(t, committedAtPause, "the zombie stopped before any of its workers had a message")
	}

	// The survivor reclaims and commits what the zombie held, within
	// CLAIM_IDLE and the idle-in-transaction bound, with a wide margin,
	// while the zombie stays stopped. Without the bound it would wait for
	// as long as the pause lasted.
	bound := claimIdle + store.DefaultIdleInTransactionTimeout + 15*time.Second
	eventuallyEvery(t, 50*time.Millisecond, bound, "the survivor reclaims and commits what the zombie held", func() bool {
		return len(s.pendingOf(zombie.consumers()...)) == 0 && s.committed(t, held) == int64(len(held))
	})
	recovered := time.Since(pausedAt)
	if inTransaction {
		require.Zero(t, s.idleTransactions(t, time.Second), "PostgreSQL ended the zombie's transaction")
		log, err := os.ReadFile(s.pg.log())
		require.NoError(t, err)
		require.Contains(t, string(log), "terminating connection due to idle-in-transaction timeout")
	}

	r.wait(t)
	keys := keysOf(t, r.events)
	before := s.requireExact(t, c, want{sent: events, unique: int64(r.unique), keys: keys})
	require.True(t, zombie.proc.Stopped(), "the zombie stayed stopped while the survivor drained the queue")
	paused := time.Since(pausedAt)

	require.NoError(t, thaw(zombie.proc))
	// An acknowledgement that another worker had under way when the process
	// stopped has outlived its bound (every call to Redis ends within
	// redisqueue.DefaultTimeout, the stop included) once the process goes
	// on, and fails: its messages are left to their holder too, but are not
	// counted as taken over. Only a committed batch is acknowledged, so the
	// zombie must then still report every message not committed at the
	// stop, whose acknowledgements all begin after it.
	noticed := eventually(t, 30*time.Second, "the zombie finds its messages taken over", func() bool {
		taken, must := metric(t, zombie, takenOverMetric, ""), int64(len(held))
		if logLines(zombie, "acknowledge failed") > 0 {
			must -= committedAtPause
		}
		return taken > 0 && taken >= float64(must)
	})
	takenOver := metric(t, zombie, takenOverMetric, "")
	cutAcks := logLines(zombie, "acknowledge failed")
	require.Equal(t, cutAcks, strings.Count(zombie.proc.Output(), `"msg":"acknowledge failed; messages will be redelivered","error":"queue unavailable: context deadline exceeded"`),
		"every acknowledgement the zombie failed was one the stop cut off")
	require.Equal(t, before, stats(c), "the zombie's late work changed no count")
	require.Contains(t, zombie.proc.Output(), "taken over by another consumer")
	failedBatches := metric(t, zombie, "logagg_consume_batches_total", `outcome="failed"`)
	if inTransaction {
		require.Positive(t, failedBatches, "the zombie's transaction was rolled back")
	}

	// The zombie consumes again, and every count comes out exact.
	both := client(zombie, survivor)
	consumedBefore := metric(t, zombie, "logagg_consumed_events_total", "")
	r2 := publish(both, more, 0.3, seed+100, opts)
	r2.wait(t)
	st := s.requireExact(t, both, want{
		sent: events + more, unique: int64(r.unique + r2.unique), keys: append(keys, keysOf(t, r2.events)...),
	})
	consumedAfter := metric(t, zombie, "logagg_consumed_events_total", "")
	require.Greater(t, consumedAfter, consumedBefore, "the zombie consumes again")
	stopAll(t, zombie, survivor)
	require.Zero(t, s.pendingTotal())

	t.Logf("paused replica at %s: %d events (%d unique) through the survivor while the zombie was stopped, then %d more through both",
		point, events, r.unique, more)
	sessions := ""
	if inTransaction {
		sessions = fmt.Sprintf("; sessions idle in transaction: %d", idleAtPause)
	}
	t.Logf("  stopped %s after the start holding %d messages (%d of them committed%s); stopped %s in all",
		pausedAt.Sub(r.start).Round(time.Millisecond), len(held), committedAtPause, sessions, paused.Round(time.Millisecond))
	t.Logf("  the survivor had reclaimed and committed them %s after the stop (CLAIM_IDLE %s, DB_IDLE_IN_TRANSACTION_TIMEOUT %s)",
		recovered.Round(time.Millisecond), claimIdle, store.DefaultIdleInTransactionTimeout)
	t.Logf("  after SIGCONT the zombie found %.0f messages taken over within %s (it held %d at the stop; Redis may serve a read it had waiting during it; %d acknowledgements under way at the stop failed), %.0f of its batches failed; /stats unchanged: received %d, unique %d",
		takenOver, noticed.Round(time.Millisecond), len(held), cutAcks, failedBatches, before.Received, before.UniqueProcessed)
	t.Logf("  then the zombie consumed %.0f events of the next %d", consumedAfter-consumedBefore, more)
	logEnd(t, st)
}

// idleTransactions counts the sessions of the system's database that have
// been idle in a transaction for longer than d.
func (s *system) idleTransactions(t *testing.T, d time.Duration) int64 {
	t.Helper()
	return s.count(t, `
		SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'idle in transaction'
		  AND state_change < now() - make_interval(secs => $1)`, d.Seconds())
}
