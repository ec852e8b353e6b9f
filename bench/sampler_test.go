package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func TestUsageOver(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	s := func(ms int, cpu time.Duration, total, idle time.Duration) sample {
		return sample{at: t0.Add(time.Duration(ms) * time.Millisecond), cpu: cpu, sys: systemCPU{Total: total, Idle: idle}}
	}
	series := []sample{
		s(0, 0, 0, 0),
		s(1000, 500*time.Millisecond, 2*time.Second, time.Second),
		s(2000, 2000*time.Millisecond, 4*time.Second, time.Second),
	}
	for _, tc := range []struct {
		name             string
		from, to         int // ms
		wantLR, wantMach float64
	}{
		{"whole series", 0, 2000, 1.0, 1.5},
		{"second half", 1000, 2000, 1.5, 2.0},
		{"between samples", 500, 1500, 1.0, 1.5},
		{"before the first sample counts from it", -1000, 1000, 0.25, 1.0},
		{"after the last sample counts to it", 1000, 3000, 0.75, 2.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lr, mach, ok := usageOver(series, t0.Add(time.Duration(tc.from)*time.Millisecond), t0.Add(time.Duration(tc.to)*time.Millisecond), 2)
			require.True(t, ok)
			require.InDelta(t, tc.wantLR, lr, 1e-9)
			require.InDelta(t, tc.wantMach, mach, 1e-9)
		})
	}
	_, _, ok := usageOver(series[:1], t0, t0.Add(time.Second), 2)
	require.False(t, ok, "one sample measures nothing")
	_, _, ok = usageOver(series, t0.Add(time.Second), t0, 2)
	require.False(t, ok, "an empty window measures nothing")
}

// The sampler reads this test process and the real Redis.
func TestSamplerReadsAProcess(t *testing.T) {
	t.Parallel()
	svc := testServices(t)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan sampled)
	go func() {
		done <- sampler{pid: os.Getpid(), svc: svc, stream: newScratch().stream, interval: 10 * time.Millisecond}.run(runCtx)
	}()
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		// busy, so that the sampler sees CPU time pass
	}
	cancel()
	got := <-done
	require.GreaterOrEqual(t, len(got.series), 2)
	require.Positive(t, got.peakRSS)
	require.Positive(t, got.redisUsedBefore)
	require.GreaterOrEqual(t, got.redisUsedPeak, got.redisUsedBefore)
	require.Zero(t, got.streamPeakLen, "a stream that does not exist has no entries")
	lr, _, ok := usageOver(got.series, got.series[0].at, got.series[len(got.series)-1].at, 2)
	require.True(t, ok)
	require.Greater(t, lr, 0.0)
}

// testServices connects to the test Redis (TEST_REDIS_URL, else the local
// one); the PostgreSQL part is not used.
func testServices(t *testing.T) *services {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	svc := &services{redis: redis.NewClient(opts)}
	t.Cleanup(func() { _ = svc.Close() })
	require.NoError(t, svc.redis.Ping(context.Background()).Err(), "Redis at %s", u)
	return svc
}
