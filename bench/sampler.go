package main

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The parts of the pipeline whose CPU time the sampler follows.
const (
	partLocalrun  = "localrun"
	partPublisher = "publisher"
	partPostgres  = "postgres" // the backends serving the run's database
	partRedis     = "redis"    // the whole Redis server, which others may use too
)

// sample is one reading of the CPU time used so far by each part, and by
// the whole machine.
type sample struct {
	at  time.Time
	cpu map[string]time.Duration
	sys systemCPU
}

// sampled is what a sampler saw over a run.
type sampled struct {
	series          []sample
	peakRSS         int64 // bytes, the largest VmRSS of localrun read
	redisUsedBefore int64 // used_memory at the start, bytes
	redisUsedPeak   int64 // the largest used_memory read, bytes
	streamPeakLen   int64 // the largest XLEN of the run's stream
	streamPeakBytes int64 // the largest MEMORY USAGE of the run's stream
	backlogPeak     int64 // the most events waiting (the stream's backlog counter)
	readErrors      int
}

// sampler reads, every interval, the CPU time of localrun, the publisher,
// the PostgreSQL backends of the run's database and Redis; localrun's
// resident memory; the machine's CPU time; Redis's used memory and the
// run's stream size.
type sampler struct {
	localrun  int       // pid
	publisher int       // pid
	db        *pgx.Conn // on the run's database, to find its backends
	svc       *services
	stream    string
	interval  time.Duration
}

// readTimeout bounds one reading; on a saturated machine a reading may
// take longer than the interval, and the ticker then skips ticks.
const readTimeout = time.Second

// streamEvery is how many ticks pass between MEMORY USAGE readings of the
// stream, which cost Redis more than the other readings.
const streamEvery = 5

// backendCPU follows the CPU time of the PostgreSQL backends serving the
// run. Backends come and go; one seen at the first reading counts from
// there, a later one from its start, and one that has gone keeps its last
// reading.
type backendCPU struct {
	base, last map[int]time.Duration
	first      bool
}

func (b *backendCPU) update(pids []int) time.Duration {
	if b.base == nil {
		b.base, b.last, b.first = map[int]time.Duration{}, map[int]time.Duration{}, true
	}
	for _, pid := range pids {
		cpu, err := processCPU(pid)
		if err != nil {
			continue // ended between the query and the read
		}
		if _, seen := b.last[pid]; !seen && b.first {
			b.base[pid] = cpu
		}
		b.last[pid] = cpu
	}
	b.first = false
	var total time.Duration
	for pid, cpu := range b.last {
		total += cpu - b.base[pid]
	}
	return total
}

// run samples until ctx ends and returns what it saw. The first reading is
// taken at once and another at the end, so a run always has both.
func (s sampler) run(ctx context.Context) sampled {
	var out sampled
	var backends backendCPU
	last := map[string]time.Duration{}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		s.read(&out, &backends, last, n == 0, n%streamEvery == 0)
		select {
		case <-ctx.Done():
			s.read(&out, &backends, last, false, true)
			return out
		case <-tick.C:
		}
	}
}

// read takes one reading. last holds each part's latest CPU time: a
// process that has exited keeps it.
func (s sampler) read(out *sampled, backends *backendCPU, last map[string]time.Duration, first, streamBytes bool) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	smp := sample{at: time.Now(), cpu: map[string]time.Duration{}}
	ok := true
	for part, pid := range map[string]int{partLocalrun: s.localrun, partPublisher: s.publisher} {
		if pid <= 0 {
			continue
		}
		if cpu, err := processCPU(pid); err == nil {
			last[part] = cpu
		}
		if cpu, known := last[part]; known {
			smp.cpu[part] = cpu
		}
	}
	if s.db != nil {
		if pids, err := runBackends(ctx, s.db); err == nil {
			last[partPostgres] = backends.update(pids)
		} else {
			out.readErrors++
		}
		if cpu, known := last[partPostgres]; known {
			smp.cpu[partPostgres] = cpu
		}
	}
	var err error
	if smp.sys, err = readSystemCPU(); err != nil {
		ok = false
	}

	if info, err := s.svc.redis.Info(ctx, "memory", "cpu").Result(); err == nil {
		kv := parseInfo(info)
		if used, err := strconv.ParseInt(kv["used_memory"], 10, 64); err == nil {
			if first {
				out.redisUsedBefore = used
			}
			out.redisUsedPeak = max(out.redisUsedPeak, used)
		}
		if cpu, err := redisCPU(kv); err == nil {
			last[partRedis] = cpu
		}
	} else {
		out.readErrors++
	}
	if cpu, known := last[partRedis]; known {
		smp.cpu[partRedis] = cpu
	}
	if ok {
		out.series = append(out.series, smp)
	} else {
		out.readErrors++
	}
	if m, err := processMemory(s.localrun); err == nil {
		out.peakRSS = max(out.peakRSS, m.RSS)
	} else {
		out.readErrors++
	}
	if n, err := s.svc.redis.XLen(ctx, s.stream).Result(); err == nil {
		out.streamPeakLen = max(out.streamPeakLen, n)
	}
	// Absent until the first publish: nothing waits then.
	if n, err := s.svc.redis.Get(ctx, s.stream+":backlog").Int64(); err == nil {
		out.backlogPeak = max(out.backlogPeak, n)
	}
	if streamBytes {
		// A stream that does not exist yet, or any more, has no size.
		if b, err := s.svc.redis.MemoryUsage(ctx, s.stream).Result(); err == nil {
			out.streamPeakBytes = max(out.streamPeakBytes, b)
		}
	}
}

// runBackends lists the PostgreSQL backends connected to the run's
// database, other than the sampler's own.
func runBackends(ctx context.Context, db *pgx.Conn) ([]int, error) {
	rows, err := db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

// redisCPU reads the server's CPU time, user + system, from INFO cpu.
func redisCPU(kv map[string]string) (time.Duration, error) {
	var total float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		f, err := strconv.ParseFloat(kv[k], 64)
		if err != nil {
			return 0, err
		}
		total += f
	}
	return time.Duration(total * float64(time.Second)), nil
}

// usage is the average CPU use over a window, in cores.
type usage struct {
	parts   map[string]float64 // each part followed in every sample
	machine float64            // the whole machine
}

// usageOver returns the average CPU use between from and to, reading
// between samples linearly. A part counts only if every sample has it.
func usageOver(series []sample, from, to time.Time, cores int) (usage, bool) {
	if len(series) < 2 || !to.After(from) {
		return usage{}, false
	}
	wall := float64(to.Sub(from))
	u := usage{parts: map[string]float64{}}
	for part := range series[0].cpu {
		complete := true
		for _, s := range series {
			if _, ok := s.cpu[part]; !ok {
				complete = false
				break
			}
		}
		if complete {
			c0, _ := at(series, from, part)
			c1, _ := at(series, to, part)
			u.parts[part] = float64(c1-c0) / wall
		}
	}
	_, s0 := at(series, from, "")
	_, s1 := at(series, to, "")
	u.machine = busyCores(s0, s1, cores)
	return u, true
}

// at interpolates part's CPU time and the machine's at t; before the first
// or after the last sample it takes that sample.
func at(series []sample, t time.Time, part string) (time.Duration, systemCPU) {
	i := sort.Search(len(series), func(i int) bool { return !series[i].at.Before(t) })
	switch {
	case i == 0:
		return series[0].cpu[part], series[0].sys
	case i == len(series):
		last := series[len(series)-1]
		return last.cpu[part], last.sys
	}
	a, b := series[i-1], series[i]
	f := float64(t.Sub(a.at)) / float64(b.at.Sub(a.at))
	lerp := func(x, y time.Duration) time.Duration { return x + time.Duration(f*float64(y-x)) }
	return lerp(a.cpu[part], b.cpu[part]), systemCPU{Total: lerp(a.sys.Total, b.sys.Total), Idle: lerp(a.sys.Idle, b.sys.Idle)}
}
