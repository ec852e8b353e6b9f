package proc_test

import (
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/proc"
)

func TestFreePortNeverRepeats(t *testing.T) {
	t.Parallel()
	ports := make([]int, 50)
	for i := range ports {
		var err error
		ports[i], err = proc.FreePort()
		require.NoError(t, err)
	}
	slices.Sort(ports)
	require.Positive(t, ports[0])
	require.Len(t, slices.Compact(slices.Clone(ports)), len(ports), "a port was handed out twice: %v", ports)
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

// Listens tells a child that serves on the port from the processes that
// only connect to it.
func TestListensFindsTheChild(t *testing.T) {
	t.Parallel()
	port, err := proc.FreePort()
	require.NoError(t, err)
	p := startChild(t, proc.Options{Env: []string{"CHILD_PORT=" + strconv.Itoa(port)}})
	require.Eventually(t, func() bool { return proc.Listens(p.Pid(), port) }, time.Minute, 10*time.Millisecond, p.Output())
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer conn.Close()
	require.False(t, proc.Listens(os.Getpid(), port), "a client of the port is not its listener")
}
