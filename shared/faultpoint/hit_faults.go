//go:build faults

package faultpoint

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
)

var (
	armed = os.Getenv(Variable) // the point to stop at; "" stops nowhere
	once  sync.Once
)

// Hit stops the process with SIGSTOP the first time it is called with the
// point that Variable names; later calls, and other points, go on.
//
// The stop is sent to the calling thread, not to the process: the kernel
// hands a signal sent to the process to a thread of its choosing (the main
// one, when that one can take it), and the calling thread would run on
// until that one had stopped the rest — long enough, on a busy machine, to
// acknowledge the batch it had just committed. A thread that receives
// SIGSTOP stops before it returns to the caller, and the whole process with
// it.
func Hit(point string) {
	if point != armed {
		return
	}
	once.Do(func() {
		fmt.Fprintf(os.Stderr, "%s%s (pid %d)\n", Announcement, point, os.Getpid())
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
	})
}
