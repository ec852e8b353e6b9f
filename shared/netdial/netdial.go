// Package netdial dials the TCP connections to PostgreSQL and Redis so that
// a peer gone silent is noticed within DeadPeerTimeout. Without it, a
// connection across a network that drops every packet, or whose link went
// down, hangs until the kernel gives up retransmitting — about fifteen
// minutes on Linux — and one that is idle is never found dead at all.
// Keepalive probes find an idle connection dead; TCP_USER_TIMEOUT (Linux)
// bounds how long data sent may stay unacknowledged, so that a request
// written into a dead connection fails too. Both are answered by the
// peer's kernel, so a slow server, or one waiting on a lock, is never cut
// off: only one that cannot be reached is.
package netdial

import (
	"net"
	"time"
)

// DeadPeerTimeout is how long a connection may go without a sign of life
// from its peer's kernel — an acknowledgement of data sent, or an answer to
// a keepalive probe — before it is dropped.
const DeadPeerTimeout = 10 * time.Second

// The keepalive probes: the first after KeepAliveIdle without traffic, then
// one every KeepAliveInterval, KeepAliveCount in all, which with
// TCP_USER_TIMEOUT comes to about DeadPeerTimeout.
const (
	KeepAliveIdle     = 5 * time.Second
	KeepAliveInterval = 1 * time.Second
	KeepAliveCount    = 5
)

// Dialer returns a dialer whose connections are dropped once their peer
// has been silent for DeadPeerTimeout. timeout bounds the connecting, as
// net.Dialer.Timeout does.
func Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: KeepAliveIdle, Interval: KeepAliveInterval, Count: KeepAliveCount,
		},
		Control: setUserTimeout,
	}
}
