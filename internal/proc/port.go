package proc

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/prometheus/procfs"
)

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a loopback port that was free a moment ago and that
// this process has not handed out before, so that servers started in
// parallel never share one.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = 0x0A

// Listens reports whether process pid holds a socket listening on TCP port
// (Linux: /proc/net/tcp{,6} name the sockets, /proc/PID/fd holds them).
// Unlike a connection to the port, it cannot mistake another process that
// took the port for pid.
func Listens(pid, port int) bool {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return false
	}
	var sockets []string
	//lint:ignore SA1019 /proc/net/tcp is stable and enough for a test helper; netlink's sock_diag would be a new dependency for it
	for _, read := range []func() (procfs.NetTCP, error){fs.NetTCP, fs.NetTCP6} {
		table, err := read()
		if err != nil {
			continue // no IPv6 on this machine
		}
		for _, s := range table {
			if s.LocalPort == uint64(port) && s.St == tcpListen {
				sockets = append(sockets, fmt.Sprintf("socket:[%d]", s.Inode))
			}
		}
	}
	if len(sockets) == 0 {
		return false
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return false
	}
	targets, err := p.FileDescriptorTargets()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(targets, func(t string) bool { return slices.Contains(sockets, t) })
}
