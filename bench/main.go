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
// `bench growth` measures the same as the store grows: with millions of
// events preloaded, ingest against an empty store, the read shapes, the
// disk per event and a retention pass under load (growth.go).
//
//	go run ./bench -h
//	make bench        # the full run, about 15 minutes
//	make bench-quick  # a small run to see that everything works
//	go run ./bench growth -h
//	make bench-growth # 0, 5 and 20 million events preloaded, most of an hour
package main

import (
	"errors"

	"github.com/logagg/logagg/internal/proc"
)

func main() { proc.Main("bench", run) }

// errTargetsMissed ends a -strict run that missed a goal.
var errTargetsMissed = errors.New("some targets were missed")
