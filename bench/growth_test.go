package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/testenv"
)

// The growth benchmark, in a mode small enough for a test: every phase runs
// against the real servers, with localrun and the publisher as processes,
// and reports figures for everything it measures. (The long mode is only
// ever run by hand: make bench-growth.)
func TestGrowthQuickMeasuresEverything(t *testing.T) {
	t.Parallel()
	testenv.SkipShort(t, "PostgreSQL, Redis and builds of localrun and the publisher")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	g, err := parseGrowthConfig([]string{
		// Hours: 100,000 events, a second apart, then fill several partitions
		// that have ended, whatever day of the week it is.
		"-partition-interval", "1h",
		"-sizes", "0,100000", "-events", "20000", "-runs", "1", "-reads", "20", "-cursor-page", "5", "-retention-drop", "50000",
		"-database-url", testenv.AdminDatabaseURL(), "-redis-url", testenv.RedisURL(), "-out", filepath.Join(dir, "growth.json"),
	}, envmap.Env{}.Getenv, &bytes.Buffer{}, time.Now())
	require.NoError(t, err)

	svc, err := connectServices(ctx, g.databaseURL, g.redisURL)
	require.NoError(t, err)
	defer svc.Close()
	var progress bytes.Buffer
	b := &bench{
		cfg: config{runSettings: g.runSettings}, root: modroot.ForTest(t), svc: svc,
		localrun: testenv.Build(t, "./localrun"), publisher: testenv.Build(t, "./publisher"),
		logDir: dir, cores: runtime.NumCPU(), progress: &progress,
	}
	rep := newGrowthReport(ctx, b, g, time.Now())
	require.NoError(t, b.checkGrowthSpace(ctx, g, rep), "100,000 events fit")
	require.NoError(t, b.growth(ctx, g, rep), "progress:\n%s", progress.String())
	require.NoError(t, growthOutcome(rep, false), "progress:\n%s", progress.String())

	require.Len(t, rep.Sizes, 2)
	for _, sz := range rep.Sizes {
		require.Empty(t, sz.Error)
		require.NotNil(t, sz.Close)
		require.NotNil(t, sz.Planning)
		require.Positive(t, sz.Planning.Partitions)
		for _, ph := range []phase{sz.Stored, sz.Empty} {
			require.Len(t, ph.Runs, 1)
			require.Empty(t, ph.Runs[0].Error)
			require.True(t, ph.Runs[0].ExactlyOnce, "run %s", ph.Runs[0].Label)
			require.Positive(t, float64(ph.Summary.E2EEventsPerSec))
		}
		require.False(t, math.IsNaN(float64(sz.Ratio)))
		require.Len(t, sz.Reads, len(readShapes(g.cursorPage)))
	}
	empty, full := rep.Sizes[0], rep.Sizes[1]
	require.Equal(t, int64(100_000), full.StoredAtReads, "the store is read before the runs")
	for _, r := range full.Reads {
		require.Empty(t, r.Error, r.Name)
		require.Equal(t, g.reads, r.Requests, r.Name)
		require.False(t, math.IsNaN(float64(r.P99Ms)), r.Name)
		if r.Name != "/stats" && r.Name != "/events/count" {
			require.Less(t, r.EmptyPages, g.reads, "%s finds events", r.Name)
		}
	}
	require.Nil(t, empty.Disk)
	require.Zero(t, empty.StoredAtReads)
	measured := map[string]bool{}
	for _, r := range empty.Reads {
		measured[r.Name] = r.Requests == g.reads && !math.IsNaN(float64(r.P99Ms))
	}
	require.Equal(t, map[string]bool{
		"first page": true, "topic": false, "source": false,
		"1h window, order=processed": false, "1h window, order=timestamp": false,
		"1d window, order=processed": false, "1d window, order=timestamp": false,
		"topic + 1h, order=processed": false, "topic + 1h, order=timestamp": false,
		"source + 1h, order=processed": false, "source + 1h, order=timestamp": false,
		"topic, page 5": false, "/stats": true, "/events/count": true,
	}, measured, "an empty store has no topic, source or history to pick from")
	require.NotNil(t, full.Disk)
	require.Equal(t, int64(100_000), full.Disk.Events)
	require.Greater(t, float64(full.Disk.BytesPerEvent), 200.0)
	require.Positive(t, full.Close.Partitions, "the preload filled past partitions, which the pass closed")

	rp := rep.Retention
	require.NotNil(t, rp)
	require.Empty(t, rp.Error)
	require.Positive(t, rp.PartitionsDropped)
	require.Equal(t, rp.PartitionsToDrop, rp.PartitionsDropped)
	require.Positive(t, rp.EventsDropped)
	require.Zero(t, rp.EventsLeft, "nothing older than the cutoff is left")
	require.False(t, math.IsNaN(float64(rp.Seconds)))
	require.False(t, math.IsNaN(float64(rp.RateDuring)), "the load was running while the pass did")
	require.False(t, math.IsNaN(float64(rp.RateWithout)))
	require.Len(t, rp.Without, 2)
	require.Len(t, rep.Targets, 5)

	require.NoError(t, writeGrowth(rep, g, dir))
	data, err := os.ReadFile(g.out)
	require.NoError(t, err)
	var back growthReport
	require.NoError(t, json.Unmarshal(data, &back))
	require.Equal(t, growthSchemaVersion, back.Schema)
	require.Equal(t, "growth.svg", back.Chart)
	svg, err := os.ReadFile(g.chart)
	require.NoError(t, err)
	root, _ := svgTexts(t, svg)
	require.Equal(t, "svg", root)
	var out bytes.Buffer
	printGrowth(&out, rep, g.out)
	require.Contains(t, out.String(), "Retention pass at 100,000 preloaded")
}
