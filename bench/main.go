// Command bench measures logagg end to end on this machine: for each run it
// creates a fresh PostgreSQL database and Redis stream, starts localrun as
// its own process with the configuration under test, loads it with the
// publisher (another process) until the queue has drained, samples
// localrun's CPU and memory and Redis's memory meanwhile, and removes
// database and stream afterwards.
//
// It measures the main configuration (BATCH_SIZE=500 WORKER_COUNT=4 by
// default) and the one-event-per-transaction baseline (BATCH_SIZE=1
// WORKER_COUNT=4) alternately, the median of several runs of each; then the
// latencies at half the main configuration's maximum rate; then a sweep of
// BATCH_SIZE × WORKER_COUNT for a chart. It prints a table, writes JSON and
// an SVG chart, and checks the figures against the project's goals.
//
//	go run ./bench -h
//	make bench        # the full run, about 15 minutes
//	make bench-quick  # a small run to see that everything works
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// errTargetsMissed ends a -strict run that missed a goal.
var errTargetsMissed = errors.New("some targets were missed")

// exitCode reports err and returns the exit status: 0 on success or -h,
// 2 for bad usage, 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlagParse):
		return 2
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
}
