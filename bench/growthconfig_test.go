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

var growthDay = time.Date(2026, 11, 29, 23, 30, 0, 0, time.FixedZone("", -5*60*60))

func TestParseGrowthConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseGrowthConfig(nil, envmap.Env{}.Getenv, &bytes.Buffer{}, growthDay)
	require.NoError(t, err)
	require.Equal(t, []int{0, 5_000_000, 20_000_000}, c.sizes)
	require.Equal(t, 300_000, c.events)
	require.Equal(t, 3, c.runs)
	require.Equal(t, 200, c.reads)
	require.Equal(t, 50, c.cursorPage)
	require.Equal(t, 5_000_000, c.retentionDrop)
	require.False(t, c.retentionKeys)
	require.Equal(t, "bench/results/growth-2026-11-30.json", c.out, "dated in UTC")
	require.Equal(t, "bench/results/growth-2026-11-30.svg", c.chart)
	require.Equal(t, 0.3, c.dupRate, "the run settings are the main benchmark's")
	require.Equal(t, 500, c.batchSize)
	require.Equal(t, 20_000_000, c.largest())
}

func TestParseGrowthConfigFromEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	c, err := parseGrowthConfig([]string{"-reads", "50", "-out", "x/g.json"}, envmap.Env{
		"BENCH_GROWTH_SIZES":          "200000, 0",
		"BENCH_GROWTH_RUNS":           "1",
		"BENCH_GROWTH_READS":          "20",
		"BENCH_GROWTH_RETENTION_KEYS": "1",
		"BENCH_LOCALRUN_ENV":          "DB_MAX_CONNS=16",
		"BENCH_DUP_RATE":              "0.1",
	}.Getenv, &bytes.Buffer{}, growthDay)
	require.NoError(t, err)
	require.Equal(t, []int{0, 200_000}, c.sizes, "sorted")
	require.Equal(t, 1, c.runs)
	require.Equal(t, 50, c.reads, "a flag wins over the environment")
	require.True(t, c.retentionKeys)
	require.Equal(t, []string{"DB_MAX_CONNS=16", "PARTITION_INTERVAL=168h0m0s"}, c.localrunEnv, "localrun partitions as the preload does")
	require.Equal(t, 0.1, c.dupRate)
	require.Equal(t, "x/g.svg", c.chart)
	s := c.describe()
	require.Equal(t, []int{0, 200_000}, s.Sizes)
	require.Equal(t, pipeline{500, 4}, s.Pipeline)
}

func TestParseGrowthConfigRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no runs", []string{"-runs", "0"}},
		{"no reads", []string{"-reads", "0"}},
		{"the cursor page is the first", []string{"-cursor-page", "1"}},
		{"negative retention", []string{"-retention-drop", "-1"}},
		{"negative size", []string{"-sizes", "-5"}},
		{"no size", []string{"-sizes", ","}},
		{"a run setting", []string{"-dup-rate", "1"}},
		{"stray argument", []string{"now"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseGrowthConfig(tc.args, envmap.Env{}.Getenv, &bytes.Buffer{}, growthDay)
			var usage proc.UsageError
			require.True(t, errors.As(err, &usage), "want a usage error, got %v", err)
		})
	}
	var help bytes.Buffer
	_, err := parseGrowthConfig([]string{"-h"}, envmap.Env{}.Getenv, &help, growthDay)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, help.String(), "Usage: bench growth [flags]")
	require.Contains(t, help.String(), "BENCH_GROWTH_SIZES")
	require.Contains(t, help.String(), "BENCH_LOCALRUN_ENV", "the run settings' flags too")
}
