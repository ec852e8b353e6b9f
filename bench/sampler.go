package main

import (
	"context"
	"sort"
	"time"
)

// sample is one reading of localrun and the machine.
type sample struct {
	at  time.Time
	cpu time.Duration // localrun's user + system time so far
	sys systemCPU     // the machine's
}

// sampled is what a sampler saw over a run.
type sampled struct {
	series          []sample
	peakRSS         int64 // bytes, the largest VmRSS read
	redisUsedBefore int64 // used_memory at the start, bytes
	redisUsedPeak   int64 // the largest used_memory read, bytes
	streamPeakLen   int64 // the largest XLEN of the run's stream
	streamPeakBytes int64 // the largest MEMORY USAGE of the run's stream
	readErrors      int
}

// sampler reads localrun's CPU time and resident memory, the machine's
// CPU time, Redis's used memory and the run's stream size every interval.
type sampler struct {
	pid      int
	svc      *services
	stream   string
	interval time.Duration
}

// streamEvery is how many ticks pass between MEMORY USAGE readings of the
// stream, which cost Redis more than the other readings.
const streamEvery = 5

// run samples until ctx ends and returns what it saw. The first reading is
// taken at once, so that a run always has a starting point.
func (s sampler) run(ctx context.Context) sampled {
	var out sampled
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		s.read(&out, n == 0, n%streamEvery == 0)
		select {
		case <-ctx.Done():
			s.read(&out, false, true)
			return out
		case <-tick.C:
		}
	}
}

func (s sampler) read(out *sampled, first, streamBytes bool) {
	at := time.Now()
	cpu, err1 := processCPU(s.pid)
	sys, err2 := readSystemCPU()
	if err1 == nil && err2 == nil {
		out.series = append(out.series, sample{at: at, cpu: cpu, sys: sys})
	} else {
		out.readErrors++
	}
	if m, err := processMemory(s.pid); err == nil {
		out.peakRSS = max(out.peakRSS, m.RSS)
	} else {
		out.readErrors++
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.interval)
	defer cancel()
	if used, err := s.svc.redisUsedMemory(ctx); err == nil {
		if first {
			out.redisUsedBefore = used
		}
		out.redisUsedPeak = max(out.redisUsedPeak, used)
	} else {
		out.readErrors++
	}
	if n, err := s.svc.redis.XLen(ctx, s.stream).Result(); err == nil {
		out.streamPeakLen = max(out.streamPeakLen, n)
	}
	if streamBytes {
		// A stream that does not exist yet, or any more, has no size.
		if b, err := s.svc.redis.MemoryUsage(ctx, s.stream).Result(); err == nil {
			out.streamPeakBytes = max(out.streamPeakBytes, b)
		}
	}
}

// usageOver returns localrun's average CPU use, in cores, and the machine's
// busy cores between from and to, reading between samples linearly.
func usageOver(series []sample, from, to time.Time, cores int) (localrun, machine float64, ok bool) {
	if len(series) < 2 || !to.After(from) {
		return 0, 0, false
	}
	c0, s0 := at(series, from)
	c1, s1 := at(series, to)
	wall := to.Sub(from)
	return float64(c1-c0) / float64(wall), busyCores(s0, s1, cores), true
}

// at interpolates the series at t; before the first or after the last
// sample it takes that sample.
func at(series []sample, t time.Time) (time.Duration, systemCPU) {
	i := sort.Search(len(series), func(i int) bool { return !series[i].at.Before(t) })
	switch {
	case i == 0:
		return series[0].cpu, series[0].sys
	case i == len(series):
		last := series[len(series)-1]
		return last.cpu, last.sys
	}
	a, b := series[i-1], series[i]
	f := float64(t.Sub(a.at)) / float64(b.at.Sub(a.at))
	lerp := func(x, y time.Duration) time.Duration { return x + time.Duration(f*float64(y-x)) }
	return lerp(a.cpu, b.cpu), systemCPU{Total: lerp(a.sys.Total, b.sys.Total), Idle: lerp(a.sys.Idle, b.sys.Idle)}
}
