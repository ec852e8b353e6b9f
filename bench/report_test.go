package main

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/stretchr/testify/require"
)

// sampleRun is a finished run with plausible figures.
func sampleRun(label string, batch, workers int, e2e float64) runResult {
	r := newRun(runSpec{label: label, pipe: pipeline{batch, workers}, events: 10000})
	r.Unique, r.Duplicates, r.Requests = 7000, 3000, 20
	r.DuplicateRate, r.ExactlyOnce = 0.3, true
	r.PublishSeconds, r.PublishEventsPerSec = 0.1, 100000
	r.E2ESeconds, r.E2EEventsPerSec = num(10000/e2e), num(e2e)
	r.PublishLatencyMs = percentiles{2, 5, 9}
	r.LocalrunCPUCores, r.MachineBusyCores, r.PublisherCPUSeconds = 0.8, 1.9, 0.4
	r.PostgresCPUCores, r.RedisCPUCores, r.PublisherCPUCores = 0.6, 0.2, 0.3
	r.PeakRSSBytes, r.HWMBytes, r.LocalrunExit = 50e6, 52e6, 0
	r.StreamPeakLength, r.StreamPeakBytes, r.RedisUsedBefore, r.RedisUsedPeak = 4000, 2e6, 1e6, 3e6
	r.BacklogPeakEvents = 9000
	r.Stats = &loadgen.Stats{Received: 10000, UniqueProcessed: 7000, DuplicateDropped: 3000, Published: 10000, Topics: 10}
	return r
}

func sampleReport() *report {
	rep := &report{
		Schema: schemaVersion, StartedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Seconds: 600, Commit: "abc1234-dirty",
		Changes:  []string{"shared/worker/worker.go"},
		Machine:  machine{Cores: 2, CPUModel: "cpu", MemoryBytes: 24 << 30, Kernel: "Linux 6", Go: "go1.26", PostgreSQL: "15", Redis: "7"},
		Settings: settings{Events: 10000, BaselineEvents: 1000, Runs: 3, DupRate: 0.3, RequestEvents: 500, Concurrency: 4, MaxBacklog: 1_000_000, LatencySeconds: 20, LocalrunEnv: []string{}},
		Main:     phase{Pipeline: pipeline{500, 4}, Events: 10000},
		Baseline: phase{Pipeline: pipeline{1, 4}, Events: 1000},
		Notes:    []string{"a note"},
	}
	for i, e2e := range []float64{90000, 80000, 85000} {
		rep.Main.Runs = append(rep.Main.Runs, sampleRun("main", 500, 4, e2e))
		rep.Baseline.Runs = append(rep.Baseline.Runs, sampleRun("baseline", 1, 4, 3000+float64(i)*100))
	}
	rep.Main.Summary, rep.Baseline.Summary = summarize(rep.Main.Runs), summarize(rep.Baseline.Runs)
	rep.Ratio = num(ratio(float64(rep.Main.Summary.E2EEventsPerSec), float64(rep.Baseline.Summary.E2EEventsPerSec)))
	rep.OTLP = &phase{Pipeline: pipeline{500, 4}, Events: 10000}
	for _, e2e := range []float64{70000, 60000, 65000} {
		rep.OTLP.Runs = append(rep.OTLP.Runs, sampleRun("otlp", 500, 4, e2e))
	}
	rep.OTLP.Summary = summarize(rep.OTLP.Runs)
	rep.OTLPRatio = num(ratio(float64(rep.OTLP.Summary.E2EEventsPerSec), float64(rep.Main.Summary.E2EEventsPerSec)))
	lat := sampleRun("latency", 500, 4, 42500)
	rep.Latency = &latencyPhase{RateEventsPerSec: 42500, Run: lat, PublishLatencyMs: lat.PublishLatencyMs,
		CommitLatencyMs: percentiles{40, 90, 150}, CommitMaxMs: 300, CommitRows: 7000, Method: latencyMethod}
	rep.Sweep = sampleSweep()
	rep.Targets = evaluateTargets(rep)
	return rep
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	runs := []runResult{sampleRun("a", 500, 4, 90000), sampleRun("b", 500, 4, 70000), sampleRun("c", 500, 4, 80000)}
	runs[0].PeakRSSBytes = 120e6
	runs[2].PublishLatencyMs.P99 = 30
	failed := newRun(runSpec{label: "d"})
	failed.Error = "localrun exited"
	s := summarize(append(runs, failed))
	require.Equal(t, 3, s.Runs, "the failed run is left out")
	require.Equal(t, num(80000), s.E2EEventsPerSec, "median")
	require.Equal(t, num(9), s.PublishLatencyMs.P99, "median of 9, 9, 30")
	require.Equal(t, num(120e6), s.PeakRSSBytes, "peaks are the highest")
	require.Equal(t, num(2e6), s.RedisGrowthBytes)

	none := summarize([]runResult{failed})
	require.Zero(t, none.Runs)
	require.True(t, math.IsNaN(float64(none.E2EEventsPerSec)))
}

func TestNumJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal([]num{1.23456, num(math.NaN()), num(math.Inf(1)), 75000})
	require.NoError(t, err)
	require.Equal(t, `[1.235,null,null,75000]`, string(b))
	var back []num
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, num(1.235), back[0])
	require.True(t, math.IsNaN(float64(back[1])))
}

// The JSON's field names are what the README and other tools read.
func TestReportJSONShape(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(sampleReport())
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))

	requireKeys := func(obj any, keys ...string) map[string]any {
		t.Helper()
		m, ok := obj.(map[string]any)
		require.True(t, ok, "an object: %v", obj)
		for _, k := range keys {
			require.Contains(t, m, k)
		}
		return m
	}
	requireKeys(doc, "schema", "started_at", "duration_seconds", "commit", "uncommitted_files", "machine", "settings", "main", "baseline",
		"e2e_ratio_main_to_baseline", "latency", "sweep", "targets", "notes")
	require.Equal(t, float64(schemaVersion), doc["schema"])
	requireKeys(doc["machine"], "cores", "cpu_model", "memory_bytes", "kernel", "go", "postgresql", "redis")
	requireKeys(doc["settings"], "events", "baseline_events", "runs", "dup_rate", "request_events", "concurrency", "max_backlog")

	main := requireKeys(doc["main"], "pipeline", "events_per_run", "runs", "summary")
	requireKeys(main["pipeline"], "batch_size", "worker_count")
	requireKeys(main["summary"], "runs_measured", "publish_events_per_sec", "e2e_events_per_sec", "publish_latency_ms",
		"duplicate_rate", "localrun_cpu_cores", "postgres_cpu_cores", "redis_cpu_cores", "publisher_cpu_cores", "machine_busy_cores", "localrun_peak_rss_bytes", "localrun_vm_hwm_bytes",
		"redis_stream_peak_length", "redis_stream_peak_bytes", "redis_used_memory_peak_growth_bytes")
	runs := main["runs"].([]any)
	require.Len(t, runs, 3)
	run := requireKeys(runs[0], "label", "pipeline", "events", "unique", "duplicates", "requests", "retries", "duplicate_rate",
		"exactly_once", "publish_seconds", "publish_events_per_sec", "e2e_seconds", "e2e_events_per_sec", "publish_latency_ms",
		"localrun_cpu_cores", "postgres_cpu_cores", "redis_cpu_cores", "publisher_cpu_cores", "machine_busy_cores", "publisher_cpu_seconds", "localrun_peak_rss_bytes", "localrun_vm_hwm_bytes",
		"localrun_exit_status", "redis_stream_peak_length", "redis_stream_peak_bytes", "redis_used_memory_before_bytes",
		"redis_used_memory_peak_bytes", "stats_after")
	require.NotContains(t, run, "error", "no error field on a run that worked")
	requireKeys(run["publish_latency_ms"], "p50", "p95", "p99")

	requireKeys(doc["latency"], "rate_events_per_sec", "run", "publish_latency_ms", "publish_to_commit_ms",
		"publish_to_commit_max_ms", "publish_to_commit_rows", "method")
	sw := requireKeys(doc["sweep"], "events", "small_batch_events", "small_batch_max", "batch_sizes", "worker_counts", "points")
	require.Len(t, sw["points"], 24)

	targets := doc["targets"].([]any)
	require.Len(t, targets, 7)
	for _, tg := range targets {
		m := requireKeys(tg, "name", "goal", "value", "unit", "status")
		require.Contains(t, []any{statusPass, statusFail, statusNotMeasured}, m["status"])
	}

	var back report
	require.NoError(t, json.Unmarshal(data, &back), "the JSON reads back")
	require.Equal(t, sampleReport().Main.Summary, back.Main.Summary)
}

func TestReportJSONOfSkippedPhases(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Latency, rep.Sweep = nil, nil
	rep.Ratio = nan()
	data, err := json.Marshal(rep)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	require.Nil(t, doc["latency"])
	require.Nil(t, doc["sweep"])
	require.Nil(t, doc["e2e_ratio_main_to_baseline"])
}
