package main

import (
	"bytes"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/proc"
)

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseConfig(nil, envmap.Env{}.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 1_000_000, c.events)
	require.Equal(t, 3, c.runs)
	require.Equal(t, 50_000, c.baselineEvents)
	require.Equal(t, 0.3, c.dupRate)
	require.Equal(t, 500, c.requestEvents)
	require.Equal(t, 500, c.batchSize)
	require.Equal(t, 4, c.workers)
	require.Equal(t, int64(1_000_000), c.maxBacklog)
	require.Equal(t, 20.0, c.latencySeconds)
	require.Zero(t, c.profileSeconds, "no profile unless asked for")
	require.True(t, c.otlp, "the OTLP runs are on by default")
	require.True(t, c.sweep)
	require.Equal(t, 100_000, c.sweepEvents)
	require.Equal(t, 20_000, c.sweepSmallEvents)
	require.Equal(t, []int{1, 10, 50, 100, 500, 1000}, c.sweepBatches)
	require.Equal(t, []int{1, 2, 4, 8}, c.sweepWorkers)
	require.Equal(t, "bench/results/latest.json", c.out)
	require.Equal(t, "bench/results/latest.svg", c.chart)
	require.Equal(t, "docs/bench-throughput.svg", c.docsChart)
	require.Equal(t, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", c.databaseURL)
	require.Equal(t, "redis://127.0.0.1:6379/0", c.redisURL)
	require.Equal(t, 10*time.Minute, c.runTimeout)
	require.False(t, c.strict)
	require.Empty(t, c.localrunEnv)
}

func TestParseConfigOTLPOff(t *testing.T) {
	t.Parallel()
	for _, in := range []struct {
		args []string
		env  envmap.Env
	}{
		{[]string{"-otlp=false"}, envmap.Env{}},
		{nil, envmap.Env{"BENCH_OTLP": "0"}},
		{[]string{"-otlp=false"}, envmap.Env{"BENCH_OTLP": "1"}},
	} {
		c, err := parseConfig(in.args, in.env.Getenv, &bytes.Buffer{})
		require.NoError(t, err)
		require.False(t, c.otlp, "%v %v", in.args, in.env)
	}
}

func TestParseConfigFromEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	c, err := parseConfig([]string{"-runs", "5", "-out", "x/quick.json"}, envmap.Env{
		"BENCH_EVENTS":          "200_000",
		"BENCH_RUNS":            "2",
		"BENCH_SWEEP":           "0",
		"BENCH_SWEEP_BATCHES":   "500, 1,1",
		"BENCH_LOCALRUN_ENV":    "DB_MAX_CONNS=16, CLAIM_IDLE=1m",
		"DATABASE_URL":          "postgres://postgres@db:5432/logagg",
		"REDIS_URL":             "redis://cache:6379/1",
		"BENCH_REDIS_URL":       "redis://bench:6379/2",
		"BENCH_STRICT":          "true",
		"BENCH_PROFILE_SECONDS": "7.5",
	}.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 200_000, c.events)
	require.Equal(t, 5, c.runs, "a flag wins over the environment")
	require.False(t, c.sweep)
	require.Equal(t, []int{1, 500}, c.sweepBatches, "sorted, repeats dropped")
	require.Equal(t, []string{"DB_MAX_CONNS=16", "CLAIM_IDLE=1m"}, c.localrunEnv)
	require.Equal(t, "postgres://postgres@db:5432/logagg", c.databaseURL)
	require.Equal(t, "redis://bench:6379/2", c.redisURL, "BENCH_REDIS_URL wins over REDIS_URL")
	require.Equal(t, "x/quick.svg", c.chart, "the chart follows -out")
	require.True(t, c.strict)
	require.Equal(t, 7.5, c.profileSeconds)
}

func TestParseConfigRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no runs", []string{"-runs", "0"}, nil},
		{"duplicate rate of one", []string{"-dup-rate", "1"}, nil},
		{"batch size above BATCH_SIZE's limit", []string{"-batch-size", "10001"}, nil},
		{"negative latency run", []string{"-latency-seconds", "-1"}, nil},
		{"negative profile", []string{"-profile-seconds", "-2"}, nil},
		{"sweep value out of range", []string{"-sweep-batches", "0,10"}, nil},
		{"empty sweep", []string{"-sweep-workers", " , "}, nil},
		{"localrun variable the harness owns", []string{"-localrun-env", "BATCH_SIZE=7"}, nil},
		{"localrun variable without value", []string{"-localrun-env", "DB_MAX_CONNS"}, nil},
		{"bad environment number", nil, map[string]string{"BENCH_EVENTS": "lots"}},
		{"bad environment boolean", nil, map[string]string{"BENCH_SWEEP": "perhaps"}},
		{"URL without host", []string{"-redis-url", "redis-at-home"}, nil},
		{"stray argument", []string{"now"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, envmap.Env(tc.env).Getenv, &bytes.Buffer{})
			var usage proc.UsageError
			require.True(t, errors.As(err, &usage), "want a usage error, got %v", err)
			require.Equal(t, 2, proc.ExitCode("bench", err, &bytes.Buffer{}))
		})
	}

	_, err := parseConfig([]string{"-no-such-flag"}, envmap.Env{}.Getenv, &bytes.Buffer{})
	require.ErrorIs(t, err, proc.ErrFlagParse)
	require.Equal(t, 2, proc.ExitCode("bench", err, &bytes.Buffer{}))

	var help bytes.Buffer
	_, err = parseConfig([]string{"-h"}, envmap.Env{}.Getenv, &help)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Zero(t, proc.ExitCode("bench", err, &bytes.Buffer{}))
	require.Contains(t, help.String(), "Usage: bench [flags]")
	require.Contains(t, help.String(), "BENCH_EVENTS")
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.Equal(t, 1, proc.ExitCode("bench", errTargetsMissed, &out), "a missed target is a failure, not a bad command line")
	require.Equal(t, "bench: some targets were missed\n", out.String())
}

// A variable that does not parse leaves the default and is reported, saying
// what it should be.
func TestEnvDefaultsSayWhatAValueShouldBe(t *testing.T) {
	t.Parallel()
	e := &envDefaults{getenv: envmap.Env{"I": "1_000", "F": "x", "B": "perhaps", "D": "10"}.Getenv}
	require.Equal(t, 1000, e.int("I", 7))
	require.Equal(t, 2.5, e.float("F", 2.5))
	require.True(t, e.bool("B", true))
	require.Equal(t, time.Minute, e.duration("D", time.Minute))
	require.Equal(t, 9, e.int("UNSET", 9))
	err := e.err()
	require.ErrorContains(t, err, `F="x": not a number`)
	require.ErrorContains(t, err, `B="perhaps": not 0/1/true/false`)
	require.ErrorContains(t, err, `D="10": not a duration such as 10m`)
	var usage proc.UsageError
	require.ErrorAs(t, err, &usage)
}
