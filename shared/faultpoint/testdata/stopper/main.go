// Command stopper is the process faultpoint's tests start: it hits
// faultpoint.WorkerAfterCommit twice, then the other points, and writes
// "went on" before it exits 0.
package main

import (
	"fmt"
	"os"

	"github.com/logagg/logagg/shared/faultpoint"
)

func main() {
	faultpoint.Hit(faultpoint.WorkerAfterCommit)
	faultpoint.Hit(faultpoint.WorkerAfterCommit)
	faultpoint.Hit(faultpoint.StoreBetweenRoundTrips)
	faultpoint.Hit(faultpoint.QueueAfterFetch)
	fmt.Fprintln(os.Stdout, "went on")
}
