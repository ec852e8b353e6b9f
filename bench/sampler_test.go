package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
)

func TestUsageOver(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	s := func(ms int, lr, pg time.Duration, total, idle time.Duration) sample {
		cpu := map[string]time.Duration{partLocalrun: lr}
		if pg >= 0 {
			cpu[partPostgres] = pg
		}
		return sample{at: t0.Add(time.Duration(ms) * time.Millisecond), cpu: cpu, sys: systemCPU{Total: total, Idle: idle}}
	}
	series := []sample{
		s(0, 0, 0, 0, 0),
		s(1000, 500*time.Millisecond, 100*time.Millisecond, 2*time.Second, time.Second),
		s(2000, 2000*time.Millisecond, 300*time.Millisecond, 4*time.Second, time.Second),
	}
	for _, tc := range []struct {
		name                     string
		from, to                 int // ms
		wantLR, wantPG, wantMach float64
	}{
		{"whole series", 0, 2000, 1.0, 0.15, 1.5},
		{"second half", 1000, 2000, 1.5, 0.2, 2.0},
		{"between samples", 500, 1500, 1.0, 0.15, 1.5},
		{"before the first sample counts from it", -1000, 1000, 0.25, 0.05, 1.0},
		{"after the last sample counts to it", 1000, 3000, 0.75, 0.1, 2.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, ok := usageOver(series, t0.Add(time.Duration(tc.from)*time.Millisecond), t0.Add(time.Duration(tc.to)*time.Millisecond), 2)
			require.True(t, ok)
			require.InDelta(t, tc.wantLR, u.parts[partLocalrun], 1e-9)
			require.InDelta(t, tc.wantPG, u.parts[partPostgres], 1e-9)
			require.InDelta(t, tc.wantMach, u.machine, 1e-9)
		})
	}
	_, ok := usageOver(series[:1], t0, t0.Add(time.Second), 2)
	require.False(t, ok, "one sample measures nothing")
	_, ok = usageOver(series, t0.Add(time.Second), t0, 2)
	require.False(t, ok, "an empty window measures nothing")

	gap := append([]sample(nil), series...)
	gap[1] = s(1000, 500*time.Millisecond, -1, 2*time.Second, time.Second)
	u, ok := usageOver(gap, t0, t0.Add(2*time.Second), 2)
	require.True(t, ok)
	require.Contains(t, u.parts, partLocalrun)
	require.NotContains(t, u.parts, partPostgres, "a part missing from a sample is not guessed")
}

func TestBackendCPU(t *testing.T) {
	t.Parallel()
	var b backendCPU
	self := os.Getpid()
	require.Zero(t, b.update([]int{self}), "a backend seen at the first reading counts from there")
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		// busy, so that CPU time passes
	}
	grown := b.update([]int{self, 1 << 30}) // the second pid does not exist
	require.Positive(t, grown)
	require.Equal(t, grown, b.update(nil), "a backend that has gone keeps its last reading")
}

func TestRedisCPU(t *testing.T) {
	t.Parallel()
	d, err := redisCPU(map[string]string{"used_cpu_user": "56.884005", "used_cpu_sys": "8.376722"})
	require.NoError(t, err)
	require.InDelta(t, 65.260727, d.Seconds(), 1e-6)
	_, err = redisCPU(map[string]string{"used_cpu_user": "1"})
	require.Error(t, err)
}

// The sampler reads this test process and the real Redis.
func TestSamplerReadsAProcess(t *testing.T) {
	t.Parallel()
	svc := testServices(t)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan sampled)
	go func() {
		done <- sampler{localrun: os.Getpid(), publisher: os.Getppid(), svc: svc, stream: newScratch().stream, interval: 10 * time.Millisecond}.run(runCtx)
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
	require.Zero(t, got.backlogPeak, "nothing published, nothing waiting")
	u, ok := usageOver(got.series, got.series[0].at, got.series[len(got.series)-1].at, 2)
	require.True(t, ok)
	require.Positive(t, u.parts[partLocalrun])
	require.Contains(t, u.parts, partPublisher)
	require.Contains(t, u.parts, partRedis)
	require.NotContains(t, u.parts, partPostgres, "no database given, no backends followed")
}

// testServices connects to the tests' Redis (testenv); the PostgreSQL part
// is not used.
func testServices(t *testing.T) *services {
	t.Helper()
	u, _ := testenv.NewRedisPrefix(t)
	opts, err := redis.ParseURL(u)
	require.NoError(t, err)
	svc := &services{redis: redis.NewClient(opts)}
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}
