package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/redisqueue"
)

func TestExtendKeepsMessagesFromBeingReclaimed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const idle = 300 * time.Millisecond
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: idle, Block: 10 * time.Millisecond})
	require.NoError(t, q.Publish(ctx, queue.Singles(bodies("t", 3, 50))))
	holder, other := q.Consumer("holder"), q.Consumer("other")
	held := receiveN(t, holder, 10, 3)

	// While the holder keeps extending, the other consumer takes nothing,
	// however long it polls.
	start := time.Now()
	for time.Since(start) < 4*idle {
		require.NoError(t, holder.Extend(ctx, ids(held)))
		msgs, err := other.Receive(ctx, 10)
		require.NoError(t, err)
		require.Empty(t, msgs)
		time.Sleep(idle / 4)
	}
	pending, err := client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: "logagg", Start: "-", End: "+", Count: 10}).Result()
	require.NoError(t, err)
	require.Len(t, pending, 3)
	for _, p := range pending {
		require.Equal(t, "holder", p.Consumer)
		require.EqualValues(t, 1, p.RetryCount, "extending counts no delivery")
	}

	// Once the holder stops, the other reclaims them, as the second delivery.
	got := receiveN(t, other, 10, 3)
	for _, m := range got {
		require.Equal(t, 2, m.Deliveries)
	}

	// The former holder extends nothing it no longer holds.
	require.NoError(t, holder.Extend(ctx, ids(held)))
	pending, err = client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: "logagg", Start: "-", End: "+", Count: 10}).Result()
	require.NoError(t, err)
	for _, p := range pending {
		require.Equal(t, "other", p.Consumer)
		require.EqualValues(t, 2, p.RetryCount)
	}

	// Acknowledged, unknown and no IDs are fine.
	require.NoError(t, other.Ack(ctx, ids(got)))
	require.NoError(t, other.Extend(ctx, append(ids(got), "1-1")))
	require.NoError(t, other.Extend(ctx, nil))
}

func TestExtendAfterTheGroupVanished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, client.Del(ctx, stream).Err())
	require.NoError(t, q.Consumer("c").Extend(ctx, []string{"1-1"}))
}

func TestExtendManyMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, q.Publish(ctx, queue.Singles(bodies("t", 2500, 20))))
	holder := q.Consumer("holder")
	held := receiveN(t, holder, 2500, 2500)
	idleSince := func(d time.Duration) int {
		p, err := client.XPendingExt(ctx, &redis.XPendingExtArgs{
			Stream: stream, Group: "logagg", Idle: d, Start: "-", End: "+", Count: 5000,
		}).Result()
		require.NoError(t, err)
		return len(p)
	}
	require.Eventually(t, func() bool { return idleSince(200*time.Millisecond) == 2500 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, holder.Extend(ctx, ids(held)))
	require.Less(t, idleSince(200*time.Millisecond), 2500, "idle times were reset")
	p, err := client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: "logagg", Start: "-", End: "+", Count: 5000}).Result()
	require.NoError(t, err)
	require.Len(t, p, 2500)
	for _, e := range p {
		require.EqualValues(t, 1, e.RetryCount)
	}
}
