package redisqueue_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/queue/queuetest"
	"github.com/logagg/logagg/shared/redisqueue"
)

// newQueue returns a queue on a stream of this test's own, with its group
// created, and a client for looking at the stream directly.
func newQueue(t testing.TB, opts redisqueue.Options) (*redisqueue.Queue, *redis.Client, string) {
	t.Helper()
	redisURL, prefix := testenv.NewRedisPrefix(t)
	o, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	client := redisqueue.NewClient(o)
	t.Cleanup(func() { _ = client.Close() })
	opts.Stream = prefix + "events"
	q := redisqueue.New(client, opts)
	require.NoError(t, q.EnsureGroup(context.Background()))
	return q, client, opts.Stream
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queuetest.Harness {
		q, _, _ := newQueue(t, redisqueue.Options{MaxBacklog: opts.MaxBacklog, ClaimIdle: opts.ClaimIdle, Block: opts.Wait})
		return queuetest.Harness{Publisher: q, Counter: q, NewConsumer: queuetest.Consumers(q.Consumer), KeepsEvents: true}
	})
}

func streamIDs(t *testing.T, client *redis.Client, stream string) []string {
	t.Helper()
	entries, err := client.XRange(context.Background(), stream, "-", "+").Result()
	require.NoError(t, err)
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

func TestTrimDropsOnlyAcknowledged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: time.Minute, Block: 50 * time.Millisecond})
	c := q.Consumer("c1")
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("trim", 6, 100))))
	all := streamIDs(t, client, stream)
	require.Len(t, all, 6)

	trim := func(wantDropped int64, wantLeft []string) {
		t.Helper()
		n, err := q.Trim(ctx)
		require.NoError(t, err)
		require.Equal(t, wantDropped, n)
		require.Equal(t, wantLeft, streamIDs(t, client, stream))
	}
	ack := func(ids ...string) {
		t.Helper()
		require.NoError(t, c.Ack(ctx, ids))
	}

	trim(0, all) // nothing delivered yet
	got := queuetest.ReceiveN(t, c, 4, 4)
	require.Equal(t, all[:4], queue.IDs(got))
	trim(0, all) // delivered but unacknowledged

	ack(all[1], all[2])
	trim(0, all) // the oldest pending entry holds back the acknowledged ones after it

	ack(all[0])
	trim(3, all[3:])

	ack(all[3])
	trim(1, all[4:]) // nothing pending: everything after the last delivered entry stays

	rest := queuetest.ReceiveN(t, c, 10, 2)
	require.Equal(t, queuetest.Bodies("trim", 6, 100)[4:], queuetest.BodiesOf(rest))
	ack(queue.IDs(rest)...)
	trim(2, []string{})
}

func TestTrimRespectsEveryGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{Block: 50 * time.Millisecond})
	require.NoError(t, client.XGroupCreate(ctx, stream, "other", "0").Err())
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("groups", 3, 50))))
	c := q.Consumer("c1")
	queuetest.Ack(t, c, queuetest.ReceiveN(t, c, 10, 3))

	n, err := q.Trim(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "entries another group has not read are kept")
	require.Len(t, streamIDs(t, client, stream), 3)
}

func TestTrimWithoutGroupOrStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, client.Del(ctx, stream).Err())
	n, err := q.Trim(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	// Published into a stream no group reads yet: nobody has seen them.
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("nogroup", 2, 50))))
	n, err = q.Trim(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, streamIDs(t, client, stream), 2)
}

func TestBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: time.Minute, Block: 50 * time.Millisecond})
	c := q.Consumer("c1")
	queuetest.RequireCount(t, q.Backlog, 0)
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("backlog", 5, 50))))
	queuetest.RequireCount(t, q.Backlog, 5)
	got := queuetest.ReceiveN(t, c, 3, 3)
	queuetest.RequireCount(t, q.Backlog, 5)
	queuetest.Ack(t, c, got[:2])
	queuetest.RequireCount(t, q.Backlog, 3) // one pending, two undelivered, although the stream still holds five
	_, err := q.Trim(ctx)
	require.NoError(t, err)
	queuetest.RequireCount(t, q.Backlog, 3)

	// An entry of three events counts three, and leaves the backlog when
	// it is acknowledged.
	require.NoError(t, q.Publish(ctx, []queue.Outgoing{{Body: []byte(`[1,2,3]`), Events: 3}}))
	queuetest.RequireCount(t, q.Backlog, 6)
	rest := append(got[2:], queuetest.ReceiveN(t, c, 10, 3)...)
	queuetest.Ack(t, c, rest)
	queuetest.RequireCount(t, q.Backlog, 0)
	require.NoError(t, c.Ack(ctx, queue.IDs(rest)), "acknowledging again")
	queuetest.RequireCount(t, q.Backlog, 0)

	// An undelivered entry deleted by hand stays counted until the group
	// has caught up; then Trim settles the count.
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("deleted", 2, 50))))
	all := streamIDs(t, client, stream)
	require.NoError(t, client.XDel(ctx, stream, all[len(all)-1]).Err())
	queuetest.RequireCount(t, q.Backlog, 2)
	queuetest.Ack(t, c, queuetest.ReceiveN(t, c, 10, 1))
	queuetest.RequireCount(t, q.Backlog, 1)
	_, err = q.Trim(ctx)
	require.NoError(t, err)
	queuetest.RequireCount(t, q.Backlog, 0)

	// So does a stream deleted by hand.
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("gone", 2, 50))))
	require.NoError(t, client.Del(ctx, stream).Err())
	queuetest.RequireCount(t, q.Backlog, 2)
	_, err = q.Trim(ctx)
	require.NoError(t, err)
	queuetest.RequireCount(t, q.Backlog, 0)

	// An entry added by hand, never counted, does not take the count
	// below zero when it is acknowledged.
	require.NoError(t, q.EnsureGroup(ctx))
	require.NoError(t, client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"e": "by hand"}}).Err())
	queuetest.Ack(t, c, queuetest.ReceiveN(t, c, 10, 1))
	n, err := client.Get(ctx, stream+":backlog").Int64()
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestReceiveRecreatesVanishedGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{Block: 50 * time.Millisecond})
	c := q.Consumer("c1")
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("before", 1, 50))))
	before := queuetest.ReceiveN(t, c, 10, 1)

	// As after a restart without persistence: the stream and group are gone,
	// and a publisher recreates the stream before any consumer notices.
	require.NoError(t, client.Del(ctx, stream).Err())
	require.NoError(t, c.Ack(ctx, queue.IDs(before)), "acknowledging into a vanished group is not an error")
	want := queuetest.Bodies("after", 2, 50)
	require.NoError(t, q.Publish(ctx, queue.Singles(want)))

	got := queuetest.ReceiveN(t, c, 10, 2)
	require.Equal(t, want, queuetest.BodiesOf(got), "entries published before the group was recreated are delivered")
	queuetest.Ack(t, c, got)

	// A new consumer reclaims before it reads, and notices there.
	require.NoError(t, client.Del(ctx, stream).Err())
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("again", 1, 50))))
	got = queuetest.ReceiveN(t, q.Consumer("c2"), 10, 1)
	require.Equal(t, queuetest.Bodies("again", 1, 50)[0], got[0].Body)
}

func TestDeletedPendingEntryIsNotDelivered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: 100 * time.Millisecond, Block: 50 * time.Millisecond})
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("deleted", 2, 50))))
	dead := q.Consumer("dead")
	first := queuetest.ReceiveN(t, dead, 10, 2)
	require.NoError(t, client.XDel(ctx, stream, first[0].ID).Err())

	alive := q.Consumer("alive")
	again := queuetest.ReceiveN(t, alive, 10, 1)
	require.Equal(t, first[1].ID, again[0].ID, "only the entry that still exists is redelivered")
	require.Equal(t, first[1].Body, again[0].Body)
	require.Equal(t, 2, again[0].Deliveries)

	pending, err := client.XPending(ctx, stream, "logagg").Result()
	require.NoError(t, err)
	require.Equal(t, int64(1), pending.Count, "the deleted entry left the pending list")
	queuetest.Ack(t, alive, again)
	pending, err = client.XPending(ctx, stream, "logagg").Result()
	require.NoError(t, err)
	require.Zero(t, pending.Count)
}

func TestEntryWithoutBodyIsDeliveredEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{Block: 50 * time.Millisecond})
	require.NoError(t, client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"other", "x"}}).Err())
	got := queuetest.ReceiveN(t, q.Consumer("c1"), 10, 1)
	require.Nil(t, got[0].Body, "an unreadable entry is handed over for the caller to set aside")
}

func TestPublishLargeBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{MaxBacklog: 10_000, Block: 50 * time.Millisecond})
	want := queuetest.Bodies("large", 10_000, 629) // 10,000 bodies, 6 MiB in all
	require.NoError(t, q.Publish(ctx, queue.Singles(want)))

	queuetest.RequireCount(t, q.Published, 10_000)
	length, err := client.XLen(ctx, stream).Result()
	require.NoError(t, err)
	require.Equal(t, int64(10_000), length)

	got := queuetest.ReceiveN(t, q.Consumer("c1"), 1000, 10_000)
	for i := range want {
		require.Equal(t, want[i], got[i].Body, "body %d", i)
	}
}

func TestOverloadedPublishesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{MaxBacklog: 3})
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("fits", 2, 50))))

	err := q.Publish(ctx, queue.Singles(queuetest.Bodies("over", 2, 50)))
	require.Equal(t, event.Overloaded, event.ErrorCode(err))
	require.Contains(t, err.Error(), "backlog is full")
	require.Contains(t, err.Error(), "retry later")

	length, err := client.XLen(ctx, stream).Result()
	require.NoError(t, err)
	require.Equal(t, int64(2), length)
	queuetest.RequireCount(t, q.Published, 2)
}

func TestUnreachableRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	// A port that was just free and is closed again: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	q := redisqueue.New(client, redisqueue.Options{Stream: "logagg-test:unreachable"})
	c := q.Consumer("c1")
	ctx := context.Background()

	requireUnavailable := func(name string, err error) {
		t.Helper()
		require.Error(t, err, name)
		require.Equal(t, event.Unavailable, event.ErrorCode(err), "%s: %v", name, err)
		require.True(t, strings.HasPrefix(err.Error(), "queue unavailable"), "%s: %v", name, err)
	}
	requireUnavailable("Publish", q.Publish(ctx, queue.Singles(queuetest.Bodies("x", 1, 50))))
	requireUnavailable("Ping", q.Ping(ctx))
	requireUnavailable("EnsureGroup", q.EnsureGroup(ctx))
	_, err = q.Published(ctx)
	requireUnavailable("Published", err)
	_, err = q.Backlog(ctx)
	requireUnavailable("Backlog", err)
	_, err = q.Trim(ctx)
	requireUnavailable("Trim", err)
	_, err = c.Receive(ctx, 10)
	requireUnavailable("Receive", err)
	requireUnavailable("Ack", c.Ack(ctx, []string{"1-1"}))
	requireUnavailable("Close", c.Close(ctx))
}

func TestWrongKeyTypeIsInternal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{})
	require.NoError(t, client.Del(ctx, stream).Err())
	require.NoError(t, client.Set(ctx, stream, "not a stream", 0).Err())
	err := q.Publish(ctx, queue.Singles(queuetest.Bodies("x", 1, 50)))
	require.Equal(t, event.Internal, event.ErrorCode(err), "error: %v", err)
	queuetest.RequireCount(t, q.Published, 0)
}

func TestCloseRemovesIdleConsumer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: time.Minute, Block: 50 * time.Millisecond})
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("close", 2, 50))))
	done, busy := q.Consumer("done"), q.Consumer("busy")
	queuetest.Ack(t, done, queuetest.ReceiveN(t, done, 1, 1))
	queuetest.ReceiveN(t, busy, 1, 1)

	require.NoError(t, done.Close(ctx))
	require.NoError(t, busy.Close(ctx))
	consumers, err := client.XInfoConsumers(ctx, stream, "logagg").Result()
	require.NoError(t, err)
	var names []string
	for _, c := range consumers {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"busy"}, names, "a consumer with pending messages stays for them to be reclaimed")
}

func TestPruneConsumersRemovesIdleOnesWithNothingPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q, client, stream := newQueue(t, redisqueue.Options{ClaimIdle: time.Minute, Block: 50 * time.Millisecond})
	n, err := q.PruneConsumers(ctx, 0)
	require.NoError(t, err, "no stream yet")
	require.Zero(t, n)

	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("prune", 2, 50))))
	gone, busy := q.Consumer("gone"), q.Consumer("busy")
	queuetest.Ack(t, gone, queuetest.ReceiveN(t, gone, 1, 1))
	queuetest.ReceiveN(t, busy, 1, 1)
	names := func() []string {
		consumers, err := client.XInfoConsumers(ctx, stream, "logagg").Result()
		require.NoError(t, err)
		var out []string
		for _, c := range consumers {
			out = append(out, c.Name)
		}
		return out
	}

	n, err = q.PruneConsumers(ctx, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "nobody has been idle for an hour")
	require.ElementsMatch(t, []string{"busy", "gone"}, names())

	n, err = q.PruneConsumers(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Equal(t, []string{"busy"}, names(), "a consumer with pending messages stays for them to be reclaimed")
}

func TestReceiveRejectsNonPositiveMax(t *testing.T) {
	t.Parallel()
	q, _, _ := newQueue(t, redisqueue.Options{})
	_, err := q.Consumer("c1").Receive(context.Background(), 0)
	require.Equal(t, event.Invalid, event.ErrorCode(err))
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redisURL, prefix := testenv.NewRedisPrefix(t)
	o, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	client := redisqueue.NewClient(o)
	t.Cleanup(func() { _ = client.Close() })

	// The group defaults to "logagg" and the counter sits beside the stream.
	q := redisqueue.New(client, redisqueue.Options{Stream: prefix + "events"})
	require.NoError(t, q.Ping(ctx))
	require.NoError(t, q.EnsureGroup(ctx))
	require.NoError(t, q.EnsureGroup(ctx), "an existing group is fine")
	groups, err := client.XInfoGroups(ctx, prefix+"events").Result()
	require.NoError(t, err)
	require.Len(t, groups, 1)
	require.Equal(t, "logagg", groups[0].Name)
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("x", 1, 50))))
	n, err := client.Get(ctx, prefix+"events:published").Int64()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
}
