package main

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/logagg/logagg/internal/loadgen"
)

// schemaVersion changes when a field of report changes meaning or goes away.
const schemaVersion = 1

// num is a measured figure; a figure that could not be measured is NaN in
// Go and null in JSON.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*1000)/1000, 'f', -1, 64), nil
}

func (n *num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = num(f)
	return nil
}

func nan() num { return num(math.NaN()) }

// report is the whole result, written as JSON.
type report struct {
	Schema    int       `json:"schema"`
	StartedAt time.Time `json:"started_at"`
	Seconds   num       `json:"duration_seconds"`
	Commit    string    `json:"commit"` // git describe of the checkout measured; "-dirty" when it had changes
	// Changes are the files that differed from the commit; the binaries
	// measured were built with them.
	Changes  []string `json:"uncommitted_files"`
	Machine  machine  `json:"machine"`
	Settings settings `json:"settings"`
	Main     phase    `json:"main"`
	Baseline phase    `json:"baseline"`
	// Ratio is the main configuration's median end-to-end events/s over the
	// baseline's. The baseline sends fewer events; both are rates.
	Ratio num `json:"e2e_ratio_main_to_baseline"`
	// OTLP is the main configuration loaded with the same events as OTLP
	// protobuf exports to /v1/logs; null when skipped (-otlp=false).
	OTLP *phase `json:"otlp"`
	// OTLPRatio is OTLP's median end-to-end events/s over main's.
	OTLPRatio num           `json:"e2e_ratio_otlp_to_main"`
	Latency   *latencyPhase `json:"latency"` // null when skipped
	Sweep     *sweep        `json:"sweep"`   // null when skipped
	Targets   []target      `json:"targets"`
	Chart     string        `json:"chart,omitempty"`
	// Profile is localrun's CPU profile (pprof format) from a run of its
	// own, when one was asked for.
	Profile string   `json:"profile,omitempty"`
	Notes   []string `json:"notes"`
}

type machine struct {
	Cores       int    `json:"cores"`
	CPUModel    string `json:"cpu_model"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	PostgreSQL  string `json:"postgresql"`
	Redis       string `json:"redis"`
}

type settings struct {
	Events         int      `json:"events"`
	BaselineEvents int      `json:"baseline_events"`
	Runs           int      `json:"runs"`
	DupRate        float64  `json:"dup_rate"`
	RequestEvents  int      `json:"request_events"`
	Concurrency    int      `json:"concurrency"`
	MaxBacklog     int64    `json:"max_backlog"`
	LatencySeconds float64  `json:"latency_seconds"`
	OTLP           bool     `json:"otlp"`
	LocalrunEnv    []string `json:"localrun_env"`
}

// pipeline is the localrun configuration under test.
type pipeline struct {
	BatchSize   int `json:"batch_size"`
	WorkerCount int `json:"worker_count"`
}

// phase is several runs of one configuration.
type phase struct {
	Pipeline pipeline    `json:"pipeline"`
	Events   int         `json:"events_per_run"`
	Runs     []runResult `json:"runs"`
	Summary  summary     `json:"summary"`
}

// summary sums a phase's runs up: the median of each rate, latency and CPU
// figure, the largest of each peak.
type summary struct {
	Runs                int         `json:"runs_measured"`
	PublishEventsPerSec num         `json:"publish_events_per_sec"`
	E2EEventsPerSec     num         `json:"e2e_events_per_sec"`
	PublishLatencyMs    percentiles `json:"publish_latency_ms"`
	DuplicateRate       num         `json:"duplicate_rate"`
	LocalrunCPUCores    num         `json:"localrun_cpu_cores"`
	PostgresCPUCores    num         `json:"postgres_cpu_cores"`
	RedisCPUCores       num         `json:"redis_cpu_cores"`
	PublisherCPUCores   num         `json:"publisher_cpu_cores"`
	MachineBusyCores    num         `json:"machine_busy_cores"`
	PeakRSSBytes        num         `json:"localrun_peak_rss_bytes"`
	PeakHWMBytes        num         `json:"localrun_vm_hwm_bytes"`
	StreamPeakLength    num         `json:"redis_stream_peak_length"`
	StreamPeakBytes     num         `json:"redis_stream_peak_bytes"`
	BacklogPeakEvents   num         `json:"redis_backlog_peak_events"`
	RedisGrowthBytes    num         `json:"redis_used_memory_peak_growth_bytes"`
}

type percentiles struct {
	P50 num `json:"p50"`
	P95 num `json:"p95"`
	P99 num `json:"p99"`
}

// run is one localrun process loaded by one publisher process.
type runResult struct {
	Label    string   `json:"label"`
	Pipeline pipeline `json:"pipeline"`
	Events   int      `json:"events"`
	Error    string   `json:"error,omitempty"` // the run failed; its figures are null

	Unique        int  `json:"unique"`
	Duplicates    int  `json:"duplicates"`
	Requests      int  `json:"requests"`
	Retries       int  `json:"retries"`
	DuplicateRate num  `json:"duplicate_rate"` // duplicate_dropped / received, from /stats
	ExactlyOnce   bool `json:"exactly_once"`   // unique_processed == unique, nothing dead-lettered or conflicting

	PublishSeconds      num         `json:"publish_seconds"`
	PublishEventsPerSec num         `json:"publish_events_per_sec"`
	E2ESeconds          num         `json:"e2e_seconds"`
	E2EEventsPerSec     num         `json:"e2e_events_per_sec"`
	PublishLatencyMs    percentiles `json:"publish_latency_ms"`

	// CPU use in cores, averaged over the end-to-end window.
	LocalrunCPUCores    num `json:"localrun_cpu_cores"`
	PostgresCPUCores    num `json:"postgres_cpu_cores"` // the backends serving the run's database
	RedisCPUCores       num `json:"redis_cpu_cores"`    // the whole Redis server, shared with anything else using it
	PublisherCPUCores   num `json:"publisher_cpu_cores"`
	MachineBusyCores    num `json:"machine_busy_cores"`    // every process on the machine
	PublisherCPUSeconds num `json:"publisher_cpu_seconds"` // the whole publisher process, generating the events included
	PeakRSSBytes        num `json:"localrun_peak_rss_bytes"`
	HWMBytes            num `json:"localrun_vm_hwm_bytes"`
	LocalrunExit        int `json:"localrun_exit_status"`

	StreamPeakLength  num `json:"redis_stream_peak_length"`
	StreamPeakBytes   num `json:"redis_stream_peak_bytes"`
	BacklogPeakEvents num `json:"redis_backlog_peak_events"` // events published and not yet acknowledged
	RedisUsedBefore   num `json:"redis_used_memory_before_bytes"`
	RedisUsedPeak     num `json:"redis_used_memory_peak_bytes"`

	Stats *loadgen.Stats `json:"stats_after,omitempty"`
}

// latencyPhase is the run at half the maximum rate.
type latencyPhase struct {
	RateEventsPerSec num         `json:"rate_events_per_sec"` // asked of the publisher
	Run              runResult   `json:"run"`
	PublishLatencyMs percentiles `json:"publish_latency_ms"`
	CommitLatencyMs  percentiles `json:"publish_to_commit_ms"`
	CommitMaxMs      num         `json:"publish_to_commit_max_ms"`
	CommitRows       int64       `json:"publish_to_commit_rows"`
	Method           string      `json:"method"`
}

// sweep is one run per BATCH_SIZE × WORKER_COUNT.
type sweep struct {
	Events      int         `json:"events"`
	SmallEvents int         `json:"small_batch_events"`
	SmallBatch  int         `json:"small_batch_max"`
	Batches     []int       `json:"batch_sizes"`
	Workers     []int       `json:"worker_counts"`
	Points      []runResult `json:"points"`
}

// target is one goal of the benchmark and whether it was met.
type target struct {
	Name   string `json:"name"`
	Goal   string `json:"goal"`
	Value  num    `json:"value"`
	Unit   string `json:"unit"`
	Status string `json:"status"` // pass, fail, not measured
}

const (
	statusPass        = "pass"
	statusFail        = "fail"
	statusNotMeasured = "not measured"
)

// summarize computes a phase's summary from its successful runs.
func summarize(runs []runResult) summary {
	var ok []runResult
	for _, r := range runs {
		if r.Error == "" {
			ok = append(ok, r)
		}
	}
	pick := func(f func(runResult) num) []float64 {
		xs := make([]float64, len(ok))
		for i, r := range ok {
			xs[i] = float64(f(r))
		}
		return xs
	}
	med := func(f func(runResult) num) num { return num(median(pick(f))) }
	most := func(f func(runResult) num) num { return num(maximum(pick(f))) }
	return summary{
		Runs:                len(ok),
		PublishEventsPerSec: med(func(r runResult) num { return r.PublishEventsPerSec }),
		E2EEventsPerSec:     med(func(r runResult) num { return r.E2EEventsPerSec }),
		PublishLatencyMs: percentiles{
			P50: med(func(r runResult) num { return r.PublishLatencyMs.P50 }),
			P95: med(func(r runResult) num { return r.PublishLatencyMs.P95 }),
			P99: med(func(r runResult) num { return r.PublishLatencyMs.P99 }),
		},
		DuplicateRate:     med(func(r runResult) num { return r.DuplicateRate }),
		LocalrunCPUCores:  med(func(r runResult) num { return r.LocalrunCPUCores }),
		PostgresCPUCores:  med(func(r runResult) num { return r.PostgresCPUCores }),
		RedisCPUCores:     med(func(r runResult) num { return r.RedisCPUCores }),
		PublisherCPUCores: med(func(r runResult) num { return r.PublisherCPUCores }),
		MachineBusyCores:  med(func(r runResult) num { return r.MachineBusyCores }),
		PeakRSSBytes:      most(func(r runResult) num { return r.PeakRSSBytes }),
		PeakHWMBytes:      most(func(r runResult) num { return r.HWMBytes }),
		StreamPeakLength:  most(func(r runResult) num { return r.StreamPeakLength }),
		StreamPeakBytes:   most(func(r runResult) num { return r.StreamPeakBytes }),
		BacklogPeakEvents: most(func(r runResult) num { return r.BacklogPeakEvents }),
		RedisGrowthBytes:  most(func(r runResult) num { return r.RedisUsedPeak - r.RedisUsedBefore }),
	}
}
