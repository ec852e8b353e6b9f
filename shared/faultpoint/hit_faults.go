//go:build faults

package faultpoint

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

var (
	armed = os.Getenv(Variable) // the point to stop at; "" stops nowhere
	once  sync.Once
)

// Hit stops the process with SIGSTOP the first time it is called with the
// point that Variable names; later calls, and other points, go on.
func Hit(point string) {
	if point != armed {
		return
	}
	once.Do(func() {
		fmt.Fprintf(os.Stderr, "%s%s (pid %d)\n", Announcement, point, os.Getpid())
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	})
}
