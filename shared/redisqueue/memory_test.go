package redisqueue_test

import (
	"context"
	"strconv"
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

// fullRedis is a queue on a Redis of the test's own (noeviction) that holds
// 20 messages of one event, 10 of them delivered to consumer c1 and not yet
// acknowledged, and that is then made full: its maxmemory is set below
// the memory it uses, so that it refuses every command that may grow it.
type fullRedis struct {
	q      *redisqueue.Queue
	client *redis.Client
	stream string
	c1     *redisqueue.Consumer
	held   []queue.Message // delivered to c1

	claimIdle time.Duration
}

func newFullRedis(t *testing.T) fullRedis {
	t.Helper()
	ctx := context.Background()
	o, err := redis.ParseURL(testenv.PrivateRedis(t, "--maxmemory-policy", "noeviction"))
	require.NoError(t, err)
	client := redis.NewClient(o)
	t.Cleanup(func() { _ = client.Close() })
	f := fullRedis{client: client, stream: redisqueue.DefaultStream, claimIdle: 5 * time.Millisecond}
	f.q = redisqueue.New(client, redisqueue.Options{ClaimIdle: f.claimIdle, Block: 50 * time.Millisecond})
	require.NoError(t, f.q.EnsureGroup(ctx))
	require.NoError(t, f.q.Publish(ctx, queue.Singles(queuetest.Bodies("full", 20, 1000))))
	f.c1 = f.q.Consumer("c1")
	f.held = queuetest.ReceiveN(t, f.c1, 10, 10)

	info, err := client.InfoMap(ctx, "memory").Result()
	require.NoError(t, err)
	used, err := strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
	require.NoError(t, err)
	require.NoError(t, client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used/2, 10)).Err())
	err = client.Set(ctx, "probe", "x", 0).Err()
	require.True(t, redis.HasErrorPrefix(err, "OOM"), "Redis is full: %v", err)
	return f
}

// Acknowledging, reading and reclaiming must go on while Redis is full:
// they are what empties it. Acknowledging also takes the events off the
// backlog counter (XACK then DECRBY in one script: Redis refuses a
// command that may grow memory only as a script's first write), or a
// counter stuck high would hold /publish back once Redis has room again.
func TestConsumingWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFullRedis(t)

	queuetest.Ack(t, f.c1, f.held[:5])
	queuetest.RequireCount(t, f.q.Backlog, 15, "the acknowledged events left the backlog")

	// c2 takes over the five c1 still holds, once they have been idle
	// longer than ClaimIdle, and reads the ten undelivered, in one call.
	deadline := time.Now().Add(10 * time.Second)
	for !idleLongerThan(t, f, f.claimIdle) {
		require.False(t, time.Now().After(deadline), "c1's entries never became idle")
		time.Sleep(time.Millisecond)
	}
	c2 := f.q.Consumer("c2")
	got := queuetest.Receive(t, c2, 20)
	require.Len(t, got, 15)
	require.ElementsMatch(t, queue.IDs(f.held[5:]), queue.IDs(got[:5]), "reclaimed from c1")
	require.NoError(t, c2.Extend(ctx, queue.IDs(got)))
	queuetest.Ack(t, c2, got)
	queuetest.RequireCount(t, f.q.Backlog, 0)
	require.NoError(t, f.c1.Close(ctx))

	dropped, err := f.q.Trim(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(20), dropped, "trimming frees the acknowledged entries")
}

// idleLongerThan reports whether every entry c1 holds has been idle longer
// than d.
func idleLongerThan(t *testing.T, f fullRedis, d time.Duration) bool {
	t.Helper()
	pending, err := f.client.XPendingExt(context.Background(), &redis.XPendingExtArgs{
		Stream: f.stream, Group: redisqueue.DefaultGroup, Start: "-", End: "+", Count: 100, Consumer: "c1",
	}).Result()
	require.NoError(t, err)
	for _, p := range pending {
		if p.Idle <= d {
			return false
		}
	}
	return true
}

// A replica that starts, or restarts, while Redis is full finds the group
// there: XGROUP CREATE is refused as a command that may grow memory even
// when the group exists, which must not keep the replica from starting.
func TestEnsureGroupWhileRedisIsFull(t *testing.T) {
	t.Parallel()
	f := newFullRedis(t)
	require.NoError(t, f.q.EnsureGroup(context.Background()))
}

// Publishing to a full Redis queues nothing and is Overloaded (429 with
// Retry-After, as for MAX_BACKLOG): Redis is up, and the queue is full
// until consumers drain it.
func TestPublishingToAFullRedisIsOverloaded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFullRedis(t)

	err := f.q.Publish(ctx, queue.Singles(queuetest.Bodies("more", 3, 1000)))
	require.Equal(t, event.Overloaded, event.ErrorCode(err), "error: %v", err)
	var e *event.Error
	require.ErrorAs(t, err, &e)
	require.True(t, strings.Contains(e.Message, "maxmemory"), "the message says why: %q", e.Message)

	require.Equal(t, int64(20), f.client.XLen(ctx, f.stream).Val(), "nothing was added")
	queuetest.RequireCount(t, f.q.Published, 20)
	queuetest.RequireCount(t, f.q.Backlog, 20)
}

func TestEvictionPolicy(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"noeviction", "allkeys-lru", "volatile-lfu"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			q := queueOn(t, testenv.PrivateRedis(t, "--maxmemory-policy", policy))
			got, err := q.EvictionPolicy(context.Background())
			require.NoError(t, err)
			require.Equal(t, policy, got)
		})
	}
	t.Run("CONFIG renamed away", func(t *testing.T) {
		t.Parallel()
		q := queueOn(t, testenv.PrivateRedis(t, "--rename-command", "CONFIG", ""))
		_, err := q.EvictionPolicy(context.Background())
		require.Equal(t, event.Internal, event.ErrorCode(err), "Redis's refusal, for the caller to report: %v", err)
		require.ErrorContains(t, err, "unknown command")
	})
}

func TestEvicts(t *testing.T) {
	t.Parallel()
	for policy, evicts := range map[string]bool{
		"noeviction":      false,
		"allkeys-lru":     true,
		"allkeys-lfu":     true,
		"allkeys-random":  true,
		"volatile-lru":    false, // only keys with an expiry, which the queue never sets
		"volatile-lfu":    false,
		"volatile-random": false,
		"volatile-ttl":    false,
	} {
		require.Equal(t, evicts, redisqueue.Evicts(policy), policy)
	}
}

// queueOn is a queue on the Redis at url.
func queueOn(t *testing.T, url string) *redisqueue.Queue {
	t.Helper()
	o, err := redis.ParseURL(url)
	require.NoError(t, err)
	client := redis.NewClient(o)
	t.Cleanup(func() { _ = client.Close() })
	return redisqueue.New(client, redisqueue.Options{})
}
