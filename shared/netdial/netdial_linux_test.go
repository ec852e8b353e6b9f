package netdial

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sockopts reads the options that decide when a connection is given up.
func sockopts(t *testing.T, conn net.Conn) map[string]int {
	t.Helper()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	got := map[string]int{}
	require.NoError(t, raw.Control(func(fd uintptr) {
		for name, opt := range map[string][2]int{
			"keepalive":    {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
			"idle":         {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
			"interval":     {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
			"count":        {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
			"user timeout": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
		} {
			v, err := unix.GetsockoptInt(int(fd), opt[0], opt[1])
			require.NoError(t, err, name)
			got[name] = v
		}
	}))
	return got
}

func TestDialerGivesUpSilentPeers(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })

	conn, err := Dialer(time.Second).DialContext(context.Background(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })

	require.Equal(t, map[string]int{
		"keepalive": 1, "idle": 5, "interval": 1, "count": 5, "user timeout": 10_000,
	}, sockopts(t, conn))
}
