package main

import (
	"fmt"
	"math"
)

// The goals the benchmark checks.
const (
	goalE2EEventsPerSec = 75_000
	goalRatio           = 20
	goalPublishP99Ms    = 20
	goalCommitP99Ms     = 500
	goalRSSBytes        = 200_000_000 // 200 MB
)

// evaluateTargets checks the report's figures against the goals.
func evaluateTargets(r *report) []target {
	check := func(name, goal string, value num, unit string, pass func(float64) bool) target {
		t := target{Name: name, Goal: goal, Value: value, Unit: unit, Status: statusNotMeasured}
		if v := float64(value); !math.IsNaN(v) {
			t.Status = statusFail
			if pass(v) {
				t.Status = statusPass
			}
		}
		return t
	}
	atLeast := func(goal float64) func(float64) bool { return func(v float64) bool { return v >= goal } }
	atMost := func(goal float64) func(float64) bool { return func(v float64) bool { return v <= goal } }

	publishP99, commitP99 := nan(), nan()
	if r.Latency != nil {
		publishP99, commitP99 = r.Latency.PublishLatencyMs.P99, r.Latency.CommitLatencyMs.P99
	}

	// Memory: every run of the configurations the goals are about.
	targetRuns := append(append([]runResult(nil), r.Main.Runs...), r.Baseline.Runs...)
	if r.Latency != nil {
		targetRuns = append(targetRuns, r.Latency.Run)
	}
	if r.OTLP != nil {
		targetRuns = append(targetRuns, r.OTLP.Runs...)
	}
	var rss []float64
	for _, x := range targetRuns {
		rss = append(rss, float64(x.PeakRSSBytes), float64(x.HWMBytes))
	}
	peakMB := num(maximum(rss) / 1e6)

	// Redis and exactly-once: every run, the sweep's too.
	all := targetRuns
	if r.Sweep != nil {
		all = append(all, r.Sweep.Points...)
	}
	var streamLens []float64
	wrong, measured := 0, 0
	for _, x := range all {
		if x.Error != "" {
			continue
		}
		measured++
		// The publish script holds both under MAX_BACKLOG: the events
		// waiting, and the stream's entries (each one message of events).
		streamLens = append(streamLens, float64(x.StreamPeakLength), float64(x.BacklogPeakEvents))
		if !x.ExactlyOnce {
			wrong++
		}
	}
	wrongRuns := nan()
	if measured > 0 {
		wrongRuns = num(wrong)
	}
	backlog := float64(r.Settings.MaxBacklog)
	backlogGoal := fmt.Sprintf("≤ MAX_BACKLOG (%s)", thousands(backlog))
	backlogPass := atMost(backlog)
	if backlog == 0 {
		backlogGoal, backlogPass = "MAX_BACKLOG is 0: no limit to hold to", func(float64) bool { return false }
	}

	return []target{
		check("end-to-end throughput", fmt.Sprintf("≥ %s events/s", thousands(goalE2EEventsPerSec)),
			r.Main.Summary.E2EEventsPerSec, "events/s", atLeast(goalE2EEventsPerSec)),
		check("end-to-end speed-up over BATCH_SIZE=1 WORKER_COUNT=4", fmt.Sprintf("≥ %d×", goalRatio),
			r.Ratio, "×", atLeast(goalRatio)),
		check("publish latency p99, 500-event requests at half the maximum rate", fmt.Sprintf("≤ %d ms", goalPublishP99Ms),
			publishP99, "ms", atMost(goalPublishP99Ms)),
		check("publish-to-commit latency p99 at half the maximum rate", fmt.Sprintf("≤ %d ms", goalCommitP99Ms),
			commitP99, "ms", atMost(goalCommitP99Ms)),
		check("localrun resident memory, highest VmRSS sample or VmHWM", fmt.Sprintf("≤ %d MB", goalRSSBytes/1_000_000),
			peakMB, "MB", atMost(goalRSSBytes/1e6)),
		check("Redis backlog, events waiting or stream entries, highest sample of any run", backlogGoal,
			num(maximum(streamLens)), "", backlogPass),
		check("exactly once: runs whose stored events differ from the distinct events sent", "0 runs",
			wrongRuns, "runs", atMost(0)),
	}
}
