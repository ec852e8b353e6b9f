// Command stopper is the process faultpoint's tests start: it hits
// faultpoint.WorkerAfterCommit twice, then the other points, and writes
// "went on" before it exits 0. It does so on a thread other than the
// main one, as a worker of localrun would: a signal sent to the whole
// process goes to the main thread, which is idle here, and a stop sent
// that way would let the thread that hit the point run on for a while.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/logagg/logagg/shared/faultpoint"
)

// The main goroutine keeps the main thread, and waits on it.
func init() { runtime.LockOSThread() }

func main() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		faultpoint.Hit(faultpoint.WorkerAfterCommit)
		fmt.Fprintln(os.Stdout, "went on")
		faultpoint.Hit(faultpoint.WorkerAfterCommit)
		faultpoint.Hit(faultpoint.StoreBetweenRoundTrips)
		faultpoint.Hit(faultpoint.QueueAfterFetch)
	}()
	<-done
}
