package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/queue/queuetest"
	"github.com/logagg/logagg/shared/redisqueue"
)

// The conformance suite shows that Extend keeps messages from others; this
// shows, in the pending list, that it takes nothing back from the consumer
// that reclaimed them.
func TestExtendLeavesAloneWhatAnotherConsumerTookOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: 100 * time.Millisecond, Block: 10 * time.Millisecond})
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 3, 50))))
	holder, other := q.Consumer("holder"), q.Consumer("other")
	held := queuetest.ReceiveN(t, holder, 10, 3)
	queuetest.ReceiveN(t, other, 10, 3)

	require.NoError(t, holder.Extend(ctx, queue.IDs(held)))
	pending := pendingEntries(t, client, stream, 0)
	require.Len(t, pending, 3)
	for _, p := range pending {
		require.Equal(t, "other", p.Consumer)
		require.EqualValues(t, 2, p.RetryCount)
	}
	require.NoError(t, other.Extend(ctx, []string{"1-1"}), "an unknown ID is skipped")
}

func pendingEntries(t *testing.T, client *redis.Client, stream string, idle time.Duration) []redis.XPendingExt {
	t.Helper()
	p, err := client.XPendingExt(context.Background(), &redis.XPendingExtArgs{
		Stream: stream, Group: "logagg", Idle: idle, Start: "-", End: "+", Count: 5000,
	}).Result()
	require.NoError(t, err)
	return p
}

func TestExtendAfterTheGroupVanished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, client.Del(ctx, stream).Err())
	require.NoError(t, q.Consumer("c").Extend(ctx, []string{"1-1"}))
}

// Extend claims in slices of 1000 IDs, within what Lua's unpack can pass to
// one call.
func TestExtendManyMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 2500, 20))))
	holder := q.Consumer("holder")
	held := queuetest.ReceiveN(t, holder, 2500, 2500)
	require.Eventually(t, func() bool { return len(pendingEntries(t, client, stream, 200*time.Millisecond)) == 2500 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, holder.Extend(ctx, queue.IDs(held)))
	require.Less(t, len(pendingEntries(t, client, stream, 200*time.Millisecond)), 2500, "idle times were reset")
	p := pendingEntries(t, client, stream, 0)
	require.Len(t, p, 2500)
	for _, e := range p {
		require.EqualValues(t, 1, e.RetryCount)
	}
}
