package memqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/memqueue"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/queue/queuetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queuetest.Harness {
		q := memqueue.New(memqueue.Options{MaxBacklog: opts.MaxBacklog, ClaimIdle: opts.ClaimIdle, Block: opts.Wait})
		return queuetest.Harness{Publisher: q, Counter: q, NewConsumer: queuetest.Consumers(q.Consumer), KeepsEvents: true}
	})
}

func TestSetDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New(memqueue.Options{Block: 10 * time.Millisecond})
	c := q.Consumer("c1")
	require.NoError(t, q.Publish(ctx, queue.Singles([][]byte{[]byte("before")})))

	q.SetDown(true)
	_, err := c.Receive(ctx, 10)
	requireUnavailable(t, err)
	requireUnavailable(t, q.Publish(ctx, queue.Singles([][]byte{[]byte("while down")})))
	requireUnavailable(t, q.Ping(ctx))
	_, err = q.Published(ctx)
	requireUnavailable(t, err)
	_, err = q.Backlog(ctx)
	requireUnavailable(t, err)
	requireUnavailable(t, c.Ack(ctx, []string{"1"}))
	requireUnavailable(t, c.Extend(ctx, []string{"1"}))

	q.SetDown(false)
	require.NoError(t, q.Ping(ctx))
	msgs, err := c.Receive(ctx, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "before", string(msgs[0].Body), "what was queued before going down is kept")
	queuetest.RequireCount(t, q.Published, 1, "a publish refused while down is not counted")
}

func requireUnavailable(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "error: %v", err)
}

func TestBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New(memqueue.Options{Block: 10 * time.Millisecond})
	c := q.Consumer("c1")
	queuetest.RequireCount(t, q.Backlog, 0)
	require.NoError(t, q.Publish(ctx, queue.Singles([][]byte{[]byte("a"), []byte("b"), []byte("c")})))
	queuetest.RequireCount(t, q.Backlog, 3)
	msgs, err := c.Receive(ctx, 2)
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	queuetest.RequireCount(t, q.Backlog, 3) // delivered but unacknowledged messages still wait
	require.NoError(t, c.Ack(ctx, []string{msgs[0].ID}))
	queuetest.RequireCount(t, q.Backlog, 2)
}

func TestReceiveWakesOnPublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New(memqueue.Options{Block: time.Minute})
	c := q.Consumer("c1")
	got := make(chan []queue.Message, 1)
	go func() {
		msgs, err := c.Receive(ctx, 10)
		if err != nil {
			got <- nil
			return
		}
		got <- msgs
	}()
	require.NoError(t, q.Publish(ctx, queue.Singles([][]byte{[]byte("wake")})))
	select {
	case msgs := <-got:
		require.Len(t, msgs, 1)
		require.Equal(t, "wake", string(msgs[0].Body))
	case <-time.After(30 * time.Second):
		t.Fatal("a waiting Receive did not return the message published meanwhile")
	}
}

func TestReceiveStopsWithContext(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs, err := q.Consumer("c1").Receive(ctx, 10)
	require.Empty(t, msgs)
	require.True(t, errors.Is(err, context.Canceled), "error: %v", err)
}

func TestBodiesAreCopied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := memqueue.New(memqueue.Options{ClaimIdle: time.Millisecond, Block: 10 * time.Millisecond})
	body := []byte("original")
	require.NoError(t, q.Publish(ctx, queue.Singles([][]byte{body})))
	copy(body, "mutated!")

	c := q.Consumer("c1")
	msgs, err := c.Receive(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "original", string(msgs[0].Body))
	copy(msgs[0].Body, "mutated!")

	msgs = queuetest.ReceiveN(t, c, 1, 1)
	require.Equal(t, "original", string(msgs[0].Body), "a redelivery is not affected by what a consumer did to its copy")
}

func TestReceiveRejectsNonPositiveMax(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{})
	_, err := q.Consumer("c1").Receive(context.Background(), 0)
	require.Equal(t, event.Invalid, event.ErrorCode(err))
}
