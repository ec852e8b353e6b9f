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

// A consumer that held messages past ClaimIdle (it was paused) finds, when
// it comes to acknowledge them, that another consumer took some over: it
// leaves those to the other, reports them, and acknowledges the rest. The
// backlog counts each message out once, when its holder acknowledges it.
func TestAckLeavesMessagesTakenOverByAnotherConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: 100 * time.Millisecond, Block: 50 * time.Millisecond})
	require.NoError(t, q.Publish(ctx, []queue.Outgoing{
		{Body: []byte(`[1,2,3]`), Events: 3}, {Body: []byte(`4`), Events: 1}, {Body: []byte(`5`), Events: 1}, {Body: []byte(`6`), Events: 1},
	}))
	zombie := q.Consumer("zombie")
	ids := queue.IDs(queuetest.ReceiveN(t, zombie, 10, 4))
	queuetest.RequireCount(t, q.Backlog, 6)

	// The survivor reclaims the first two once they have been idle for
	// ClaimIdle, and has acknowledged the first by the time the zombie
	// wakes.
	survivor := q.Consumer("survivor")
	reclaimed := queuetest.ReceiveN(t, survivor, 2, 2)
	require.Equal(t, ids[:2], queue.IDs(reclaimed))
	queuetest.Ack(t, survivor, reclaimed[:1])
	queuetest.RequireCount(t, q.Backlog, 3)

	lost, err := zombie.AckOwn(ctx, ids)
	require.NoError(t, err)
	require.Equal(t, queue.TakenOver{Messages: 2, Events: 4}, lost)
	queuetest.RequireCount(t, q.Backlog, 1, "the zombie acknowledged its own two")
	pending, err := client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: redisqueue.DefaultGroup, Start: "-", End: "+", Count: 10}).Result()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, ids[1], pending[0].ID)
	require.Equal(t, "survivor", pending[0].Consumer, "left to the consumer that took it over")

	queuetest.Ack(t, survivor, reclaimed[1:])
	queuetest.RequireCount(t, q.Backlog, 0)
	lost, err = zombie.AckOwn(ctx, ids)
	require.NoError(t, err)
	require.Zero(t, lost, "acknowledging again finds nothing taken over: the zombie no longer holds any")

	// Ack is AckOwn without the report: it too leaves a message taken over.
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("plain", 1, 10))))
	got := queuetest.ReceiveN(t, zombie, 10, 1)
	require.Equal(t, queue.IDs(got), queue.IDs(queuetest.ReceiveN(t, survivor, 10, 1)))
	require.NoError(t, zombie.Ack(ctx, queue.IDs(got)))
	queuetest.RequireCount(t, q.Backlog, 1)
	queuetest.Ack(t, survivor, got)
	queuetest.RequireCount(t, q.Backlog, 0)
}
