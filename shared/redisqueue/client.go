package redisqueue

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/shared/netdial"
)

// NewClient returns a client for a Queue: one whose calls end when their
// context does (go-redis otherwise waits out its own read timeout, and
// retries, whatever the context says), so that Options.Timeout bounds
// every call, and whose connections are given up once Redis has been
// silent for netdial.DeadPeerTimeout. A Dialer already in opt is kept.
func NewClient(opt *redis.Options) *redis.Client {
	opt.ContextTimeoutEnabled = true
	if opt.Dialer == nil {
		opt.Dialer = dialer(opt)
	}
	return redis.NewClient(opt)
}

// dialer is go-redis's default dialer on a netdial.Dialer.
func dialer(opt *redis.Options) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := netdial.Dialer(opt.DialTimeout)
		if opt.TLSConfig == nil {
			return d.DialContext(ctx, network, addr)
		}
		return (&tls.Dialer{NetDialer: d, Config: opt.TLSConfig}).DialContext(ctx, network, addr)
	}
}
