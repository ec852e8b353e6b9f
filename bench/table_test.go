package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestThousands(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{
		0: "0", 7: "7", 999.4: "999", 999.5: "1,000", 1234567.8: "1,234,568", 1e6: "1,000,000",
		-1234: "-1,234", math.NaN(): "-", math.Inf(1): "-",
	} {
		require.Equal(t, want, thousands(in), "%v", in)
	}
}

func TestPrintReport(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.Baseline.Runs[2].Error = "localrun exited before it was healthy\nmore"
	rep.Sweep.Points[0].ExactlyOnce = false
	rep.Profile = ".bench/logs/x/localrun.cpu.pprof"
	var out bytes.Buffer
	printReport(&out, rep, "bench/results/latest.json", "docs/bench-throughput.svg")
	s := out.String()
	for _, want := range []string{
		"commit abc1234-dirty",
		"built with uncommitted changes to: shared/worker/worker.go",
		"machine: 2 cores (cpu), 24.0 GiB memory, Linux 6; PostgreSQL 15, Redis 7, go1.26",
		"median of 3 runs",
		"main BATCH_SIZE=500 WORKER_COUNT=4",
		"baseline BATCH_SIZE=1 WORKER_COUNT=4",
		"otlp BATCH_SIZE=500 WORKER_COUNT=4",
		"65,000", // otlp's median end-to-end rate
		"ratio otlp / main, end-to-end events/s: 0.76×",
		"as OTLP/HTTP protobuf exports of 500 log records to POST /v1/logs",
		"85,000", // main's median end-to-end rate
		"failed: localrun exited before it was healthy more", // on one line
		"ratio main / baseline, end-to-end events/s: 27.4×",
		"both are rates per second, so they compare",
		"Latency at half the maximum rate: 42,500 events/s",
		"publish → commit (7,000 rows)",
		"150 ms",
		"WORKER_COUNT=8",
		"(NOT EXACTLY ONCE)",
		"CPU profile of localrun, from an extra run of the main configuration that no figure counts: .bench/logs/x/localrun.cpu.pprof",
		"PASS  end-to-end throughput",
		"note: a note",
		"results: bench/results/latest.json",
	} {
		require.Contains(t, s, want)
	}
	require.NotContains(t, s, "NaN")
	require.Equal(t, 7, strings.Count(s, "\n  PASS")+strings.Count(s, "\n  FAIL")+strings.Count(s, "\n  NOT MEASURED"))
	main, otlp, baseline := strings.Index(s, "main BATCH_SIZE"), strings.Index(s, "otlp BATCH_SIZE"), strings.Index(s, "baseline BATCH_SIZE")
	require.True(t, main < otlp && otlp < baseline, "otlp sits beside main")
	require.Contains(t, s[strings.Index(s, "Resources over"):], "  otlp  ", "and has its resources row")
}

func TestPrintReportWithoutOTLP(t *testing.T) {
	t.Parallel()
	rep := sampleReport()
	rep.OTLP, rep.OTLPRatio = nil, nan()
	var out bytes.Buffer
	printReport(&out, rep, "bench/results/latest.json", "")
	require.NotContains(t, out.String(), "otlp")
}
