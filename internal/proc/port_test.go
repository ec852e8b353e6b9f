package proc_test

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func TestFreePortNeverRepeats(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for range 50 {
		port, err := proc.FreePort()
		require.NoError(t, err)
		require.Positive(t, port)
		require.False(t, seen[port], "port %d handed out twice", port)
		seen[port] = true
	}
}

func TestListens(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.True(t, proc.Listens(os.Getpid(), port))
	require.False(t, proc.Listens(os.Getppid(), port), "another process does not hold the socket")

	require.NoError(t, ln.Close())
	require.False(t, proc.Listens(os.Getpid(), port))

	// A connection is no listener.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).Port
	require.False(t, proc.Listens(os.Getpid(), local))
}
