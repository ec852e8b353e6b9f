package redisqueue_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
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

// blackhole is a TCP proxy that can go silent: once cut, it takes what
// either side sends and passes nothing on, and closes nothing, so that to
// the client Redis looks like a server behind a network that drops every
// packet. New connections are accepted and get the same silence.
type blackhole struct {
	ln  net.Listener
	cut atomic.Bool
}

func newBlackhole(t *testing.T, upstream string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackhole{ln: ln}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		conns.Wait()
	})
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = client.Close()
				continue
			}
			conns.Go(func() { b.pipe(client, server) })
			conns.Go(func() { b.pipe(server, client) })
			context.AfterFunc(t.Context(), func() { _ = client.Close(); _ = server.Close() })
		}
	}()
	return b
}

// pipe copies from → to until either closes, dropping everything once cut.
func (b *blackhole) pipe(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !b.cut.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = to.Close()
			}
			return
		}
	}
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

// returnsWithin runs call and fails the test if it has not returned after
// bound, which is far beyond any timeout in play: it tells a call that
// gave up from one that hangs.
func returnsWithin(t *testing.T, bound time.Duration, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(bound):
		t.Fatalf("%s: still waiting on a silent Redis after %s", what, bound)
		return nil
	}
}

// TestCallsGiveUpOnASilentRedis cuts Redis off silently and requires every
// call of the queue to fail as unavailable instead of waiting, whether its
// caller set a deadline or not: /publish must answer 503, and a worker must
// get to retry, while the network is down.
func TestCallsGiveUpOnASilentRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redisURL, prefix := testenv.NewRedisPrefix(t)
	opt, err := redis.ParseURL(redisURL)
	require.NoError(t, err)
	hole := newBlackhole(t, opt.Addr)
	opt.Addr = hole.addr()
	// No read or write timeout of the client's own: only a deadline can end
	// a call.
	opt.ReadTimeout, opt.WriteTimeout = -1, -1
	client := redisqueue.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	q := redisqueue.New(client, redisqueue.Options{Stream: prefix + "events", Block: 100 * time.Millisecond, Timeout: 200 * time.Millisecond})
	require.NoError(t, q.EnsureGroup(ctx))
	c := q.Consumer("c")
	require.NoError(t, q.Publish(ctx, queue.Singles(queuetest.Bodies("silent", 2, 10))))
	msgs, err := c.Receive(ctx, 1)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	hole.cut.Store(true)
	calls := map[string]func(context.Context) error{
		"publish":   func(ctx context.Context) error { return q.Publish(ctx, queue.Singles(queuetest.Bodies("more", 1, 10))) },
		"published": func(ctx context.Context) error { _, err := q.Published(ctx); return err },
		"ping":      q.Ping,
		"receive":   func(ctx context.Context) error { _, err := c.Receive(ctx, 1); return err },
		"ack":       func(ctx context.Context) error { return c.Ack(ctx, queue.IDs(msgs)) },
		"extend":    func(ctx context.Context) error { return c.Extend(ctx, queue.IDs(msgs)) },
		"trim":      func(ctx context.Context) error { _, err := q.Trim(ctx); return err },
		"eviction":  func(ctx context.Context) error { _, err := q.EvictionPolicy(ctx); return err },
	}
	for what, call := range calls {
		err := returnsWithin(t, 30*time.Second, what, func() error { return call(ctx) })
		require.Equal(t, event.Unavailable, event.ErrorCode(err), "%s: %v", what, err)
		err = returnsWithin(t, 30*time.Second, what+" with a deadline of the caller's", func() error {
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			return call(ctx)
		})
		require.Equal(t, event.Unavailable, event.ErrorCode(err), "%s with a deadline: %v", what, err)
	}
}
