package store

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/logagg/logagg/internal/testenv"
)

// TestConnectionsGiveUpSilentPeers checks both ends of a store connection:
// the server drops it once the client has been silent for about 10 s (and
// with it the locks of a transaction the client can no longer end), and so
// does the client once the server has.
func TestConnectionsGiveUpSilentPeers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewDatabase(t), Options{MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()

	server := map[string]string{}
	for _, name := range []string{"tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count", "tcp_user_timeout"} {
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SHOW "+name).Scan(&v))
		server[name] = v
	}
	require.Equal(t, map[string]string{
		"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "5", "tcp_user_timeout": "10000",
	}, server)

	tcp, ok := conn.Conn().PgConn().Conn().(*net.TCPConn)
	require.True(t, ok, "the test database is reached over TCP")
	raw, err := tcp.SyscallConn()
	require.NoError(t, err)
	var userTimeout, idle int
	var optErr error
	require.NoError(t, raw.Control(func(fd uintptr) {
		userTimeout, optErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		if optErr == nil {
			idle, optErr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		}
	}))
	require.NoError(t, optErr)
	require.Equal(t, 10_000, userTimeout, "TCP_USER_TIMEOUT, ms")
	require.Equal(t, 5, idle, "TCP_KEEPIDLE, s")
}

// TestDatabaseURLOverridesServerKeepalives lets DATABASE_URL choose the
// server's settings, as for any run-time parameter.
func TestDatabaseURLOverridesServerKeepalives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, testenv.NewDatabase(t)+"&tcp_keepalives_idle=30", Options{MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	var idle, count string
	require.NoError(t, s.pool.QueryRow(ctx, "SHOW tcp_keepalives_idle").Scan(&idle))
	require.NoError(t, s.pool.QueryRow(ctx, "SHOW tcp_keepalives_count").Scan(&count))
	require.Equal(t, "30", idle)
	require.Equal(t, "5", count)
}
