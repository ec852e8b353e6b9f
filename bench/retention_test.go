package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetentionCutoffDropsNearestTheTarget(t *testing.T) {
	t.Parallel()
	day := func(rows int64) storedPartition { return storedPartition{rows: rows} }
	full := []storedPartition{day(86_400), day(86_400), day(86_400), day(86_400)}
	require.Equal(t, 2, retentionCutoff(full, 150_000), "172,800 is nearer 150,000 than 86,400")
	require.Equal(t, 1, retentionCutoff(full, 100_000))
	require.Equal(t, 1, retentionCutoff(full, 1), "at least one partition")
	require.Equal(t, 4, retentionCutoff(full, 5_000_000), "all of them when they hold less than the target")
	require.Equal(t, 0, retentionCutoff(nil, 5_000_000), "none when none has ended")
}

func TestStatsSeriesRate(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	at := func(ms int, received int64) statsPoint {
		return statsPoint{at: t0.Add(time.Duration(ms) * time.Millisecond), received: received}
	}
	// 10,000 events/s for 3 s, then drained.
	s := statsSeries{at(0, 0), at(1000, 10_000), at(2000, 20_000), at(3000, 30_000), at(3500, 30_000), at(4000, 30_000)}
	require.InDelta(t, 15_000, s.receivedAt(t0.Add(1500*time.Millisecond)), 0.001, "between readings, linearly")
	require.InDelta(t, 30_000, s.receivedAt(t0.Add(time.Hour)), 0.001)
	require.Equal(t, t0.Add(3000*time.Millisecond), s.drained())

	rate, span := s.rate(t0.Add(500*time.Millisecond), 2*time.Second)
	require.InDelta(t, 10_000, rate, 0.001)
	require.Equal(t, 2*time.Second, span)

	rate, span = s.rate(t0.Add(500*time.Millisecond), 100*time.Millisecond)
	require.InDelta(t, 10_000, rate, 0.001)
	require.Equal(t, minRateSpan, span, "a short pass is read over a second")

	rate, span = s.rate(t0.Add(2500*time.Millisecond), 5*time.Second)
	require.InDelta(t, 10_000, rate, 0.001, "only the part before the drain counts")
	require.Equal(t, 500*time.Millisecond, span)

	rate, _ = s.rate(t0.Add(3500*time.Millisecond), time.Second)
	require.True(t, math.IsNaN(rate), "nothing left after the drain")
}

// follow reads /stats until its context ends and calls atStride once, when
// a tenth of the events have been received.
func TestRetentionRunFollowsTheLoad(t *testing.T) {
	t.Parallel()
	var received atomic.Int64
	received.Store(5_000_000) // what the database held before the run
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"received": %d}`, received.Add(500))
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rr retentionRun
	strides := 0
	done := make(chan error, 1)
	go func() {
		done <- rr.follow(ctx, srv.URL, 10_000, func() {
			strides++
			cancel() // the load ends
		})
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("follow did not return once its context ended")
	}
	require.Equal(t, 1, strides)
	require.False(t, rr.stride.IsZero())
	require.GreaterOrEqual(t, len(rr.series), 3)
	require.Zero(t, rr.series[0].received, "counted from the run's start")
	i := slices.IndexFunc(rr.series, func(p statsPoint) bool { return p.at.Equal(rr.stride) })
	require.GreaterOrEqual(t, i, 1)
	require.GreaterOrEqual(t, rr.series[i].received, int64(1000), "the stride is a tenth of 10,000 …")
	require.Less(t, rr.series[i-1].received, int64(1000), "… first reached there")
}
