package main

import (
	"math"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/stretchr/testify/require"
)

func TestSweepPointEvents(t *testing.T) {
	t.Parallel()
	cfg := config{sweepEvents: 100_000, sweepSmallEvents: 20_000, sweepSeconds: 15, runSettings: runSettings{requestEvents: 500}}
	point := func(batch, workers int, rate float64) runResult {
		return runResult{Pipeline: pipeline{batch, workers}, E2EEventsPerSec: num(rate)}
	}
	failed := point(1, 8, math.NaN())
	failed.Error = "failed"
	for _, tc := range []struct {
		name           string
		batch, workers int
		done           []runResult
		want           int
	}{
		{"first point, small batch", 1, 8, nil, 20_000},
		{"first point, large batch", 500, 8, nil, 100_000},
		{"fast enough at more workers", 100, 4, []runResult{point(100, 8, 50_000)}, 100_000},
		{"scaled down from more workers", 1, 4, []runResult{point(1, 8, 1000)}, 7500},
		{"the nearest worker count wins", 1, 2, []runResult{point(1, 8, 1000), point(1, 4, 800)}, 6000},
		{"scaled up from a smaller batch", 10, 8, []runResult{point(1, 8, 100)}, 15_000},
		{"the nearest smaller batch wins", 100, 8, []runResult{point(1, 8, 100), point(50, 8, 100)}, 3000},
		{"never below the floor", 1, 1, []runResult{point(1, 8, 10)}, 2000},
		{"failed points tell nothing", 1, 4, []runResult{failed}, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, sweepPointEvents(cfg, tc.batch, tc.workers, tc.done))
		})
	}
}

func TestRoundUp(t *testing.T) {
	t.Parallel()
	require.Equal(t, 500, roundUp(0, 500))
	require.Equal(t, 500, roundUp(500, 500))
	require.Equal(t, 1000, roundUp(501, 500))
	require.Equal(t, 10_000_000, roundUp(10_000_000, 500))
}

func TestFillRun(t *testing.T) {
	t.Parallel()
	e2eSecs, e2eRate := 2.0, 5000.0
	ended := time.Unix(2000, 0)
	pub := publisherRun{
		result: loadgen.Report{
			Events: 10000, Unique: 7000, Duplicates: 3000, Requests: 20, Retries: 1,
			PublishSeconds: 0.5, PublishEventsPerSec: 20000, E2ESeconds: &e2eSecs, E2EEventsPerSec: &e2eRate,
			LatencyP50Ms: 1, LatencyP95Ms: 2, LatencyP99Ms: 3,
			StatsAfter: loadgen.Stats{Received: 10000, UniqueProcessed: 7000, DuplicateDropped: 3000, Published: 10000},
		},
		cpu: 1500 * time.Millisecond, ended: ended,
	}
	s := sampled{
		series: []sample{
			{at: ended.Add(-3 * time.Second), cpu: map[string]time.Duration{partLocalrun: 0, partPostgres: 0}},
			{at: ended.Add(-2 * time.Second), cpu: map[string]time.Duration{partLocalrun: 0, partPostgres: 0},
				sys: systemCPU{Total: 2 * time.Second, Idle: 2 * time.Second}},
			{at: ended, cpu: map[string]time.Duration{partLocalrun: 3 * time.Second, partPostgres: time.Second},
				sys: systemCPU{Total: 6 * time.Second, Idle: 2 * time.Second}},
		},
		peakRSS: 80e6, redisUsedBefore: 1e6, redisUsedPeak: 5e6, streamPeakLen: 6000, streamPeakBytes: 3e6,
	}
	r := newRun(runSpec{label: "x", pipe: pipeline{500, 4}, events: 10000})
	fillRun(&r, pub, s, 2)
	require.True(t, r.ExactlyOnce)
	require.Equal(t, num(0.3), r.DuplicateRate)
	require.Equal(t, num(5000), r.E2EEventsPerSec)
	require.Equal(t, percentiles{1, 2, 3}, r.PublishLatencyMs)
	require.Equal(t, num(1.5), r.LocalrunCPUCores, "3 s of CPU over the 2 s end-to-end window")
	require.Equal(t, num(0.5), r.PostgresCPUCores)
	require.True(t, math.IsNaN(float64(r.RedisCPUCores)), "a part not sampled stays unmeasured")
	require.Equal(t, num(2), r.MachineBusyCores)
	require.Equal(t, num(1.5), r.PublisherCPUSeconds)
	require.Equal(t, num(80e6), r.PeakRSSBytes)
	require.Equal(t, num(6000), r.StreamPeakLength)

	for name, broken := range map[string]func(*loadgen.Stats){
		"an event stored twice":  func(s *loadgen.Stats) { s.UniqueProcessed++; s.DuplicateDropped-- },
		"a dead letter":          func(s *loadgen.Stats) { s.DeadLettered = 1 },
		"a payload conflict":     func(s *loadgen.Stats) { s.PayloadConflicts = 1 },
		"events not all counted": func(s *loadgen.Stats) { s.Received--; s.DuplicateDropped-- },
	} {
		p := pub
		broken(&p.result.StatsAfter)
		r := newRun(runSpec{})
		fillRun(&r, p, s, 2)
		require.False(t, r.ExactlyOnce, name)
	}
}

// A run into a database that held events before it is judged by what it
// added: the publisher's stats_before are subtracted.
func TestFillRunCountsWhatTheRunAdded(t *testing.T) {
	t.Parallel()
	e2eSecs, e2eRate := 2.0, 5000.0
	before := loadgen.Stats{Received: 5_000_000, UniqueProcessed: 5_000_000, Published: 0}
	pub := publisherRun{result: loadgen.Report{
		Events: 10000, Unique: 7000, Duplicates: 3000, E2ESeconds: &e2eSecs, E2EEventsPerSec: &e2eRate,
		StatsBefore: before,
		StatsAfter: loadgen.Stats{Received: before.Received + 10000, UniqueProcessed: before.UniqueProcessed + 7000,
			DuplicateDropped: 3000, Published: 10000},
	}, ended: time.Unix(2000, 0)}
	r := newRun(runSpec{label: "stored", pipe: pipeline{500, 4}, events: 10000})
	fillRun(&r, pub, sampled{}, 2)
	require.True(t, r.ExactlyOnce)
	require.Equal(t, num(0.3), r.DuplicateRate, "3,000 of the run's 10,000, not of every event stored")
	require.Equal(t, int64(5_010_000), r.Stats.Received, "the JSON keeps /stats as read")

	pub.result.StatsAfter.UniqueProcessed++ // one event stored twice
	pub.result.StatsAfter.DuplicateDropped--
	r = newRun(runSpec{})
	fillRun(&r, pub, sampled{}, 2)
	require.False(t, r.ExactlyOnce)
}
