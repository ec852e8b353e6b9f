package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func statuses(ts []target) map[string]string {
	out := map[string]string{}
	for _, t := range ts {
		out[t.Name] = t.Status
	}
	return out
}

func TestEvaluateTargets(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	got := evaluateTargets(rep)
	require.Len(t, got, 7)
	for _, tg := range got {
		require.Equal(t, statusPass, tg.Status, "%s: %v %s against %s", tg.Name, tg.Value, tg.Unit, tg.Goal)
	}
	require.Equal(t, num(85000), got[0].Value)
	require.InDelta(t, 85000.0/3100, float64(got[1].Value), 1e-9)
	require.Equal(t, num(52), got[4].Value, "the highest of VmRSS samples and VmHWM, in MB")
}

func TestEvaluateTargetsMisses(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Main.Summary.E2EEventsPerSec = 74999
	rep.Ratio = 19.9
	rep.Latency.PublishLatencyMs.P99 = 20.5
	rep.Latency.CommitLatencyMs.P99 = 501
	rep.Baseline.Runs[1].HWMBytes = 200_000_001
	rep.Sweep.Points[5].StreamPeakLength = 1_000_001
	rep.Sweep.Points[7].ExactlyOnce = false
	for _, tg := range evaluateTargets(rep) {
		require.Equal(t, statusFail, tg.Status, tg.Name)
	}
}

// The backlog target holds the events waiting to MAX_BACKLOG, not only the
// stream's entries, which hold several events each.
func TestEvaluateTargetsBacklogCountsEvents(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Main.Runs[0].BacklogPeakEvents = 1_000_001
	var backlog target
	for _, tg := range evaluateTargets(rep) {
		if strings.HasPrefix(tg.Name, "Redis backlog") {
			backlog = tg
		}
	}
	require.Equal(t, statusFail, backlog.Status)
	require.Equal(t, num(1_000_001), backlog.Value)
}

func TestEvaluateTargetsNotMeasured(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Latency = nil
	rep.Sweep = nil
	rep.OTLP = nil
	rep.Ratio = nan()
	failed := newRun(runSpec{label: "failed"})
	failed.Error = "localrun exited before it was healthy"
	for i := range rep.Main.Runs {
		rep.Main.Runs[i], rep.Baseline.Runs[i] = failed, failed
	}
	rep.Main.Summary = summarize(rep.Main.Runs)
	got := statuses(evaluateTargets(rep))
	require.Len(t, got, 7)
	for name, status := range got {
		require.Equal(t, statusNotMeasured, status, name)
	}
}

// The OTLP runs are the main configuration too: they count for memory and
// for exactly once.
func TestEvaluateTargetsCountTheOTLPRuns(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.OTLP.Runs[1].ExactlyOnce = false
	rep.OTLP.Runs[2].HWMBytes = 300e6
	got := evaluateTargets(rep)
	require.Equal(t, statusFail, got[4].Status, got[4].Name)
	require.Equal(t, num(300), got[4].Value)
	require.Equal(t, statusFail, got[6].Status, got[6].Name)
	require.Equal(t, num(1), got[6].Value)
}

func TestEvaluateTargetsWithoutBacklogLimit(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Settings.MaxBacklog = 0
	got := evaluateTargets(rep)
	require.Equal(t, statusFail, got[5].Status, "an unbounded stream bounds nothing")
}
