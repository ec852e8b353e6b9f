package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/store"
)

// sampleGrowthReport is a finished growth run with plausible figures:
// ingest holds up, reads slow down as the store grows.
func sampleGrowthReport() *growthReport {
	rep := &growthReport{
		Schema: growthSchemaVersion, StartedAt: time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC), Seconds: 3600, Commit: "abc1234",
		Machine:  machine{Cores: 2, CPUModel: "cpu", MemoryBytes: 24 << 30, Kernel: "Linux 6", Go: "go1.26", PostgreSQL: "15", Redis: "7"},
		Settings: growthConfig{sizes: []int{0, 5_000_000, 20_000_000}, events: 300_000, runs: 3, reads: 200, cursorPage: 50, retentionDrop: 5_000_000, runSettings: runSettings{dupRate: 0.3, requestEvents: 500, concurrency: 4, batchSize: 500, workers: 4}}.describe(),
		Notes:    []string{"a note"},
	}
	for i, n := range []int{0, 5_000_000, 20_000_000} {
		sz := newGrowthSize(n)
		sz.Stored, sz.Empty = phase{Pipeline: pipeline{500, 4}, Events: 300_000}, phase{Pipeline: pipeline{500, 4}, Events: 300_000}
		for range 3 {
			sz.Stored.Runs = append(sz.Stored.Runs, sampleRun("stored", 500, 4, 50_000-float64(i)*1000))
			sz.Empty.Runs = append(sz.Empty.Runs, sampleRun("empty", 500, 4, 50_000))
		}
		sz.Stored.Summary, sz.Empty.Summary = summarize(sz.Stored.Runs), summarize(sz.Empty.Runs)
		sz.Ratio = num(ratio(float64(sz.Stored.Summary.E2EEventsPerSec), float64(sz.Empty.Summary.E2EEventsPerSec)))
		sz.Close = &closePass{Seconds: num(float64(n) / 100_000), Partitions: n / 86_400}
		sz.Planning = &planning{Partitions: 3 + n/86_400, FirstPageMs: 0.1, TopicMs: 0.2}
		if n > 0 {
			sz.PreloadSeconds, sz.PreloadEventsPerSec = num(float64(n)/100_000), 100_000
			d := diskUsage{Events: int64(n), EventsTableBytes: int64(n) * 280, EventsIndexBytes: int64(n) * 320, KeysTableBytes: int64(n) * 100, KeysIndexBytes: int64(n) * 80}
			d.fill()
			sz.Disk = &d
		}
		sz.StoredAtReads = int64(n + 630_000)
		for j, s := range readShapes(50) {
			sz.Reads = append(sz.Reads, readResult{Name: s.name, Requests: 200,
				P50Ms: num(1 + float64(j)/10), P99Ms: num(3 + float64(j)*float64(i+1)*2), MaxMs: 90})
		}
		rep.Sizes = append(rep.Sizes, sz)
	}
	rp := newRetentionPhase(20_000_000, growthConfig{retentionDrop: 5_000_000})
	rp.StoredBefore, rp.Cutoff, rp.RetentionSeconds = 21_890_000, time.Date(2026, 5, 30, 0, 0, 0, 0, time.UTC), 183*86400
	rp.PartitionsToDrop, rp.PartitionsDropped, rp.EventsDropped = 58, 58, 5_011_200
	rp.Seconds, rp.RestedSeconds, rp.RateDuring, rp.RateWithout, rp.Span = 2.5, 1.2, 45_000, 50_000, 2.5
	rp.Ratio, rp.E2ERatio = 0.9, 0.95
	rp.With = sampleRun("retention-pass", 500, 4, 47_500)
	rp.Without = []runResult{sampleRun("retention-1", 500, 4, 50_000), sampleRun("retention-3", 500, 4, 50_000)}
	rep.Retention = rp
	rep.Targets = evaluateGrowthTargets(rep)
	return rep
}

func targetByPrefix(t *testing.T, targets []target, prefix string) target {
	t.Helper()
	for _, tg := range targets {
		if strings.HasPrefix(tg.Name, prefix) {
			return tg
		}
	}
	t.Fatalf("no target %q in %v", prefix, targets)
	return target{}
}

func TestGrowthTargets(t *testing.T) {
	t.Parallel()
	rep := sampleGrowthReport()
	ingest := targetByPrefix(t, rep.Targets, "end-to-end ingest at 20M stored")
	require.Equal(t, statusPass, ingest.Status)
	require.InDelta(t, 0.96, float64(ingest.Value), 1e-9)

	reads := targetByPrefix(t, rep.Targets, "read p99 at 20M stored")
	require.Equal(t, statusFail, reads.Status, "the slowest shape's p99 is 81 ms …")
	require.Equal(t, num(3+13*3*2), reads.Value)
	require.Contains(t, reads.Name, "(/events/count)", "… and the target names it")

	require.Equal(t, statusPass, targetByPrefix(t, rep.Targets, "retention pass dropping 5,011,200 events").Status)
	require.Equal(t, statusPass, targetByPrefix(t, rep.Targets, "ingest while the retention pass runs").Status)
	once := targetByPrefix(t, rep.Targets, "exactly once")
	require.Equal(t, statusPass, once.Status)
	require.Equal(t, num(0), once.Value)

	// A shape that failed cannot pass, nor can a missing retention pass.
	rep.Sizes[2].Reads = rep.Sizes[2].Reads[:3]
	for i := range rep.Sizes[2].Reads {
		rep.Sizes[2].Reads[i].P99Ms = 10
	}
	rep.Sizes[2].Reads[1].Errors = 1
	rep.Retention = nil
	rep.Sizes[0].Stored.Runs[0].ExactlyOnce = false
	targets := evaluateGrowthTargets(rep)
	reads = targetByPrefix(t, targets, "read p99 at 20M stored")
	require.Equal(t, statusFail, reads.Status)
	require.Contains(t, reads.Name, "1 shapes not measured or failing")
	require.Equal(t, statusNotMeasured, targetByPrefix(t, targets, "retention pass dropping").Status)
	require.Equal(t, statusFail, targetByPrefix(t, targets, "exactly once").Status)
}

func TestRetentionPhaseFill(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	series := func(perSec int64) statsSeries {
		var s statsSeries
		for ms := 0; ms <= 5000; ms += 100 {
			s = append(s, statsPoint{at: t0.Add(time.Duration(ms) * time.Millisecond), received: perSec * int64(ms) / 1000})
		}
		return s
	}
	with := &retentionRun{series: series(40_000), stride: t0.Add(time.Second), passAt: t0.Add(time.Second), passFor: 2 * time.Second, retries: 1}
	with.pass = &store.Maintenance{Dropped: []string{"processed_events_20260501_0000", "processed_events_20260502_0000"}, Keys: 7, Rested: 800 * time.Millisecond,
		Spent: store.MaintenanceSteps{Dropping: 1500 * time.Millisecond, Analyzing: 300 * time.Millisecond}}
	without := []*retentionRun{{series: series(50_000), stride: t0.Add(time.Second)}, {series: series(60_000), stride: t0.Add(time.Second)}}
	rp := newRetentionPhase(20_000_000, growthConfig{retentionDrop: 5_000_000})
	rp.With = sampleRun("pass", 500, 4, 40_000)
	rp.Without = []runResult{sampleRun("a", 500, 4, 50_000), sampleRun("b", 500, 4, 60_000)}
	rp.fill(with, without, 0)
	require.Equal(t, num(2), rp.Seconds)
	require.Equal(t, num(0.8), rp.RestedSeconds)
	require.Equal(t, &passSteps{Dropping: 1.5, Analyzing: 0.3}, rp.Steps)
	require.InDelta(t, 40_000, float64(rp.RateDuring), 1e-6)
	require.InDelta(t, 55_000, float64(rp.RateWithout), 1e-6, "the median of the runs without")
	require.InDelta(t, 40.0/55, float64(rp.Ratio), 1e-9)
	require.InDelta(t, 40.0/55, float64(rp.E2ERatio), 1e-9)
	require.Equal(t, num(2), rp.Span)
	require.Equal(t, 2, rp.PartitionsDropped)
	require.Equal(t, int64(7), rp.KeysForgotten)
	require.Equal(t, 1, rp.Retries)
}

func TestPrintGrowth(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	printGrowth(&out, sampleGrowthReport(), "bench/results/growth-2026-11-29.json")
	s := out.String()
	for _, want := range []string{
		"logagg growth benchmark, 2026-11-29 03:00 UTC, commit abc1234",
		"Store, per size",
		"20,000,000", "15.6 GB", "780 B", // bytes per event
		"Ingest, end-to-end events/s (median of 3 runs each, alternating",
		"96.0%", // 48,000 against 50,000
		"Reads, ms p50 / p99 over 200 requests each",
		"topic, page 50", "1d window, order=timestamp",
		"Retention pass at 20,000,000 preloaded (21,890,000 stored), under load",
		"dropped 58 partitions, 5,011,200 events processed before 2026-05-30 00:00 UTC (RETENTION 4392h), in 2.50 s (1.20 s of it resting between drop steps)",
		"45,000; over the same span of the runs without it: 50,000 (90.0%)",
		"FAIL  read p99 at 20M stored",
		"note: a note",
		"results: bench/results/growth-2026-11-29.json",
	} {
		require.Contains(t, s, want)
	}
}

func TestGrowthReportJSON(t *testing.T) {
	t.Parallel()
	rep := sampleGrowthReport()
	rep.Sizes[0].Reads[0].P99Ms = nan()
	data, err := json.Marshal(rep)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(data, &back))
	sizes := back["sizes"].([]any)
	require.Len(t, sizes, 3)
	first := sizes[0].(map[string]any)
	require.Nil(t, first["disk"], "an empty store has no size per event")
	require.Nil(t, first["reads"].([]any)[0].(map[string]any)["p99_ms"], "a figure not measured is null")
	last := sizes[2].(map[string]any)
	require.Equal(t, 780.0, last["disk"].(map[string]any)["bytes_per_event"])
	require.Equal(t, 0.96, last["ingest_ratio_stored_to_empty"])
	require.Equal(t, 5_011_200.0, back["retention"].(map[string]any)["events_dropped"])
	require.False(t, math.IsNaN(float64(rep.Sizes[2].Ratio)))
}
