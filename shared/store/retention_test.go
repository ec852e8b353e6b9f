package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
)

// A message whose events were all new has no ledger entry: a redelivery
// is recognised by its rows only. Once retention has dropped them, the
// redelivered message is taken for a new one, and its events are counted
// again, as duplicates. RETENTION 1h is accepted by the configuration,
// and a redelivery two hours on is within what LEDGER_RETENTION (168h)
// says the queue may take (a localrun down for a while with an entry
// pending, reclaimed at restart while the first maintenance pass runs).
func TestRedeliveryAfterRetentionChangesNoCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewDatabase(t), Options{PartitionInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	now := dbNow(t, s)
	require.NoError(t, s.EnsurePartitions(ctx, now.Add(-5*time.Hour), now))

	batch := []event.Record{rec("m1", ev("t", "e1", `{}`), ev("t", "e2", `{}`))}
	res, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, 2, res.Unique)
	backdate(t, s, 3*time.Hour, event.Key{Topic: "t", EventID: "e1"}, event.Key{Topic: "t", EventID: "e2"})

	m, err := s.Maintain(ctx, Policy{Retention: time.Hour, Ledger: 168 * time.Hour})
	require.NoError(t, err)
	require.NotEmpty(t, m.Dropped)
	before, err := s.Stats(ctx)
	require.NoError(t, err)

	res, err = s.Consume(ctx, batch) // the redelivery
	require.NoError(t, err)
	after, err := s.Stats(ctx)
	require.NoError(t, err)
	t.Logf("redelivery: %+v; stats before %+v, after %+v", counts(res), before, after)
	require.Equal(t, event.BatchResult{AlreadyCommitted: 1}, counts(res))
	require.Equal(t, before, after)
}

// A pass interrupted in DETACH … CONCURRENTLY leaves its partition pending
// detach: its events are no longer listed, and PostgreSQL refuses every
// other concurrent detach until it is finalised. Maintain finalises it
// whether it is due or not: once RETENTION is raised (here from 4 days to
// 9) it no longer is, and were it left pending every later pass would fail
// at its first drop, before the closing, the BRIN summaries and the
// pruning.
func TestMaintainFinishesAPendingDetachThatIsNoLongerDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, now := agedStore(t)
	old := partitionName(now.Add(-8 * day).Truncate(day))

	leaveDetachPending(t, s, old)

	listed, err := s.Events(ctx, event.Filter{})
	require.NoError(t, err)
	t.Logf("events listed while %s is pending detach: %d of 4", old, len(listed))

	// RETENTION raised to 9 days: the empty partitions of 10 and 9 days
	// ago are due, the pending one is not.
	m, err := s.Maintain(ctx, Policy{Retention: 9 * day, DuplicateAudit: time.Hour})
	t.Logf("pass: %+v, error: %v", m, err)
	require.NoError(t, err)
}
