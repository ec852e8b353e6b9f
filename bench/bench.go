package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
)

// bench runs the benchmark's phases.
type bench struct {
	cfg       config
	root      string // module root; binaries and relative paths are under it
	svc       *services
	localrun  string // binary
	publisher string // binary
	logDir    string // this invocation's logs
	cores     int
	progress  io.Writer
}

// runSpec is one run to measure.
type runSpec struct {
	label  string
	pipe   pipeline
	events int
	seed   int64
	rate   float64 // events/s cap for the publisher; 0 = as fast as it can
	sentAt bool    // stamp payloads and read publish-to-commit latency
	otlp   bool    // send the load to /v1/logs as OTLP protobuf exports
	// profile, when set, is where localrun's CPU profile of the first
	// profileSeconds of publishing is written.
	profile        string
	profileSeconds float64
	// alongside, when set, runs from the moment the publisher starts; its
	// context ends when the publisher has exited, and the run waits for it
	// to return. url is localrun's.
	alongside func(ctx context.Context, url string) error
}

const (
	healthTimeout = 60 * time.Second
	stopGrace     = 45 * time.Second // localrun's SHUTDOWN_TIMEOUT is 30s
	sampleEvery   = 100 * time.Millisecond
)

// measure runs localrun with spec's pipeline on a fresh database and
// stream, loads it with the publisher, and removes database and stream.
// A failed run is reported in run.Error; the error returned is only for
// an interrupted benchmark.
func (b *bench) measure(ctx context.Context, spec runSpec) (runResult, *commitLatency, error) {
	r := newRun(spec)
	started := time.Now()
	fmt.Fprintf(b.progress, "bench: %-14s BATCH_SIZE=%-5d WORKER_COUNT=%-2d %s events%s …\n",
		spec.label, spec.pipe.BatchSize, spec.pipe.WorkerCount, thousands(float64(spec.events)), rateNote(spec.rate))
	lat, err := b.measureInto(ctx, spec, &r)
	if err != nil {
		r.Error = err.Error()
		fmt.Fprintf(b.progress, "bench: %-14s FAILED after %.1fs: %v\n", spec.label, time.Since(started).Seconds(), err)
		return r, nil, ctx.Err()
	}
	fmt.Fprintf(b.progress, "bench: %-14s %s events/s end to end, %s events/s published, localrun %.2f cores, peak RSS %.0f MB (%.1fs)\n",
		spec.label, thousands(float64(r.E2EEventsPerSec)), thousands(float64(r.PublishEventsPerSec)),
		float64(r.LocalrunCPUCores), float64(r.PeakRSSBytes)/1e6, time.Since(started).Seconds())
	return r, lat, nil
}

func newRun(spec runSpec) runResult {
	n := nan()
	return runResult{
		Label: spec.label, Pipeline: spec.pipe, Events: spec.events,
		DuplicateRate: n, PublishSeconds: n, PublishEventsPerSec: n, E2ESeconds: n, E2EEventsPerSec: n,
		PublishLatencyMs: percentiles{n, n, n}, LocalrunCPUCores: n, MachineBusyCores: n,
		PostgresCPUCores: n, RedisCPUCores: n, PublisherCPUCores: n,
		PublisherCPUSeconds: n, PeakRSSBytes: n, HWMBytes: n, LocalrunExit: -1,
		StreamPeakLength: n, StreamPeakBytes: n, BacklogPeakEvents: n, RedisUsedBefore: n, RedisUsedPeak: n,
	}
}

func (b *bench) measureInto(ctx context.Context, spec runSpec, r *runResult) (lat *commitLatency, err error) {
	sc := newScratch()
	if err := b.svc.create(ctx, sc); err != nil {
		return nil, err
	}
	defer func() {
		// Clean up even when interrupted.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, b.svc.remove(cctx, sc))
	}()
	return b.load(ctx, spec, sc, r)
}

// measureOn is measure on an existing database, which keeps what the run
// stored; only the run's stream and keys are removed afterwards.
func (b *bench) measureOn(ctx context.Context, spec runSpec, database string) (runResult, error) {
	r := newRun(spec)
	started := time.Now()
	fmt.Fprintf(b.progress, "bench: %-14s BATCH_SIZE=%-5d WORKER_COUNT=%-2d %s events into %s …\n",
		spec.label, spec.pipe.BatchSize, spec.pipe.WorkerCount, thousands(float64(spec.events)), database)
	sc := newScratch()
	sc.database = database
	_, err := b.load(ctx, spec, sc, &r)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = errors.Join(err, b.svc.deleteKeys(cctx, sc))
	if err != nil {
		r.Error = err.Error()
		fmt.Fprintf(b.progress, "bench: %-14s FAILED after %.1fs: %v\n", spec.label, time.Since(started).Seconds(), err)
		return r, ctx.Err()
	}
	fmt.Fprintf(b.progress, "bench: %-14s %s events/s end to end, localrun %.2f cores, PostgreSQL %.2f cores (%.1fs)\n",
		spec.label, thousands(float64(r.E2EEventsPerSec)), float64(r.LocalrunCPUCores), float64(r.PostgresCPUCores), time.Since(started).Seconds())
	return r, nil
}

// load runs localrun with spec's pipeline on sc's database and stream and
// loads it with the publisher.
func (b *bench) load(ctx context.Context, spec runSpec, sc scratch, r *runResult) (lat *commitLatency, err error) {
	env := b.localrunEnv(sc, spec.pipe)
	pprofAddr := ""
	if spec.profile != "" {
		port, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
		env = append(env, "PPROF_ADDR="+pprofAddr)
	}
	logPath := filepath.Join(b.logDir, spec.label+"-"+sc.id+".log")
	srv, err := startServer(b.localrun, env, logPath)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = srv.stop(stopGrace)
		}
	}()
	if err := srv.waitHealthy(ctx, healthTimeout); err != nil {
		return nil, err
	}

	// The sampler's own connection to the run's database finds the
	// backends that serve localrun.
	db, err := pgx.Connect(ctx, b.svc.databaseURL(sc.database))
	if err != nil {
		return nil, err
	}
	defer db.Close(context.WithoutCancel(ctx))
	sampleCtx, stopSampling := context.WithCancel(ctx)
	samples := make(chan sampled, 1)
	sampling := false
	profiled := make(chan error, 1)
	alongsideCtx, stopAlongside := context.WithCancel(ctx)
	alongside := make(chan error, 1)
	alongsideRunning := false
	startSampling := func(publisherPID int) {
		sampling = true
		if spec.alongside != nil {
			alongsideRunning = true
			go func() { alongside <- spec.alongside(alongsideCtx, srv.url) }()
		}
		smp := sampler{localrun: srv.pid(), publisher: publisherPID, db: db, svc: b.svc, stream: sc.stream, interval: sampleEvery}
		go func() { samples <- smp.run(sampleCtx) }()
		if pprofAddr != "" {
			go func() { profiled <- fetchProfile(ctx, pprofAddr, spec.profileSeconds, spec.profile) }()
		}
	}
	defer func() {
		stopSampling()
		if sampling {
			<-samples
		}
		stopAlongside()
		if alongsideRunning {
			<-alongside
		}
	}()

	args := []string{
		"-url", srv.url, "-events", strconv.Itoa(spec.events), "-dup-rate", strconv.FormatFloat(b.cfg.dupRate, 'f', -1, 64),
		"-batch", strconv.Itoa(b.cfg.requestEvents), "-concurrency", strconv.Itoa(b.cfg.concurrency),
		"-seed", strconv.FormatInt(spec.seed, 10), "-run-id", sc.id,
		"-wait", "-json", "-timeout", b.cfg.runTimeout.String(),
	}
	if spec.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(spec.rate, 'f', 0, 64))
	}
	if spec.sentAt {
		args = append(args, "-sent-at")
	}
	if spec.otlp {
		args = append(args, "-protocol", "otlp")
	}
	pub, pubErr := runPublisher(ctx, b.publisher, args, srv.log, startSampling)
	hwm, hwmErr := processMemory(srv.pid())
	stopSampling()
	var s sampled
	if sampling {
		s = <-samples
		sampling = false
	}
	stopAlongside()
	if alongsideRunning {
		alongsideRunning = false
		if err := <-alongside; err != nil && pubErr == nil {
			pubErr = err
		}
	}
	if pubErr != nil {
		return nil, pubErr
	}
	if pprofAddr != "" {
		if err := <-profiled; err != nil {
			return nil, fmt.Errorf("CPU profile of localrun: %w", err)
		}
	}

	if spec.sentAt {
		l, err := readCommitLatency(ctx, b.svc.databaseURL(sc.database))
		if err != nil {
			return nil, err
		}
		lat = &l
	}
	stopped = true
	code, stopErr := srv.stop(stopGrace)
	r.LocalrunExit = code

	fillRun(r, pub, s, b.cores)
	if hwmErr == nil {
		r.HWMBytes = num(hwm.HWM)
	}
	return lat, stopErr
}

// localrunEnv is the environment of a localrun serving sc with pipe.
func (b *bench) localrunEnv(sc scratch, pipe pipeline) []string {
	return append([]string{
		"DATABASE_URL=" + b.svc.databaseURL(sc.database),
		"REDIS_URL=" + b.cfg.redisURL,
		"STREAM_NAME=" + sc.stream,
		"BATCH_SIZE=" + strconv.Itoa(pipe.BatchSize),
		"WORKER_COUNT=" + strconv.Itoa(pipe.WorkerCount),
		"MAX_BACKLOG=" + strconv.FormatInt(b.cfg.maxBacklog, 10),
		"LOG_LEVEL=warn",
	}, b.cfg.localrunEnv...)
}

// fillRun puts a finished run's figures into r.
func fillRun(r *runResult, pub publisherRun, s sampled, cores int) {
	p := pub.result
	r.Unique, r.Duplicates, r.Requests, r.Retries = p.Unique, p.Duplicates, p.Requests, p.Retries
	after := p.StatsAfter
	r.Stats = &after
	// What the run added: a database may hold events from before it.
	st := statsAdded(p.StatsBefore, after)
	if st.Received > 0 {
		r.DuplicateRate = num(float64(st.DuplicateDropped) / float64(st.Received))
	}
	r.ExactlyOnce = st.UniqueProcessed == int64(p.Unique) &&
		st.Received == st.UniqueProcessed+st.DuplicateDropped &&
		st.Received >= int64(p.Events) && st.DeadLettered == 0 && st.PayloadConflicts == 0
	r.PublishSeconds, r.PublishEventsPerSec = num(p.PublishSeconds), num(p.PublishEventsPerSec)
	r.E2ESeconds, r.E2EEventsPerSec = num(*p.E2ESeconds), num(*p.E2EEventsPerSec)
	r.PublishLatencyMs = percentiles{num(p.LatencyP50Ms), num(p.LatencyP95Ms), num(p.LatencyP99Ms)}
	r.PublisherCPUSeconds = num(pub.cpu.Seconds())

	// The end-to-end window: from the first publish to the drain, which
	// the publisher saw just before it exited.
	to := pub.ended
	from := to.Add(-time.Duration(*p.E2ESeconds * float64(time.Second)))
	if u, ok := usageOver(s.series, from, to, cores); ok {
		r.MachineBusyCores = num(u.machine)
		for part, field := range map[string]*num{
			partLocalrun: &r.LocalrunCPUCores, partPostgres: &r.PostgresCPUCores,
			partRedis: &r.RedisCPUCores, partPublisher: &r.PublisherCPUCores,
		} {
			if c, ok := u.parts[part]; ok {
				*field = num(c)
			}
		}
	}
	r.PeakRSSBytes = num(s.peakRSS)
	r.StreamPeakLength, r.StreamPeakBytes = num(s.streamPeakLen), num(s.streamPeakBytes)
	r.BacklogPeakEvents = num(s.backlogPeak)
	r.RedisUsedBefore, r.RedisUsedPeak = num(s.redisUsedBefore), num(s.redisUsedPeak)
}

// statsAdded is what the counters gained from before to after.
func statsAdded(before, after loadgen.Stats) loadgen.Stats {
	return loadgen.Stats{
		Received:         after.Received - before.Received,
		UniqueProcessed:  after.UniqueProcessed - before.UniqueProcessed,
		DuplicateDropped: after.DuplicateDropped - before.DuplicateDropped,
		Published:        after.Published - before.Published,
		DeadLettered:     after.DeadLettered - before.DeadLettered,
		PayloadConflicts: after.PayloadConflicts - before.PayloadConflicts,
	}
}

func rateNote(rate float64) string {
	if rate > 0 {
		return fmt.Sprintf(" at %s events/s", thousands(rate))
	}
	return ""
}

// mainAndBaseline alternates runs of the configurations (main, then the
// main configuration over OTLP when asked for, then the baseline), so that
// whatever else the machine does at the time weighs on all alike.
func (b *bench) mainAndBaseline(ctx context.Context, rep *report) error {
	rep.Main = phase{Pipeline: pipeline{b.cfg.batchSize, b.cfg.workers}, Events: b.cfg.events}
	rep.Baseline = phase{Pipeline: pipeline{BatchSize: 1, WorkerCount: 4}, Events: b.cfg.baselineEvents}
	type alternate struct {
		name string
		ph   *phase
		otlp bool
	}
	phases := []alternate{{"main", &rep.Main, false}}
	if b.cfg.otlp {
		rep.OTLP = &phase{Pipeline: rep.Main.Pipeline, Events: b.cfg.events}
		phases = append(phases, alternate{"otlp", rep.OTLP, true})
	}
	phases = append(phases, alternate{"baseline", &rep.Baseline, false})
	for i := 1; i <= b.cfg.runs; i++ {
		for _, p := range phases {
			// The OTLP runs send the main runs' very load (same seed).
			r, _, err := b.measure(ctx, runSpec{
				label: fmt.Sprintf("%s-%d", p.name, i), pipe: p.ph.Pipeline, events: p.ph.Events, seed: int64(i), otlp: p.otlp,
			})
			p.ph.Runs = append(p.ph.Runs, r)
			if err != nil {
				return err
			}
		}
	}
	for _, p := range phases {
		p.ph.Summary = summarize(p.ph.Runs)
	}
	rep.Ratio = num(ratio(float64(rep.Main.Summary.E2EEventsPerSec), float64(rep.Baseline.Summary.E2EEventsPerSec)))
	if rep.OTLP != nil {
		rep.OTLPRatio = num(ratio(float64(rep.OTLP.Summary.E2EEventsPerSec), float64(rep.Main.Summary.E2EEventsPerSec)))
	}
	return nil
}

// profile runs the main configuration once more with localrun's pprof
// listener on, and keeps a CPU profile of its first profileSeconds of
// load. Profiling costs some CPU, so this run counts in no figure.
func (b *bench) profile(ctx context.Context, rep *report) error {
	path := filepath.Join(b.logDir, "localrun.cpu.pprof")
	r, _, err := b.measure(ctx, runSpec{
		label: "profile", pipe: rep.Main.Pipeline, events: rep.Main.Events, seed: int64(b.cfg.runs + 1),
		profile: path, profileSeconds: b.cfg.profileSeconds,
	})
	if err != nil {
		return err
	}
	if r.Error != "" {
		rep.Notes = append(rep.Notes, "no CPU profile: the profile run failed: "+r.Error)
		return nil
	}
	rep.Profile = relative(b.root, path)
	fmt.Fprintf(b.progress, "bench: CPU profile of localrun: %s; read it with: go tool pprof -top %s %s\n",
		rep.Profile, relative(b.root, b.localrun), rep.Profile)
	return nil
}

// fetchProfile writes the CPU profile localrun's pprof listener at addr
// takes over the next seconds to path.
func fetchProfile(ctx context.Context, addr string, seconds float64, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(int(math.Round(seconds)), 1))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	return writeFile(path, data)
}

// latencyMethod says how publish-to-commit latency is measured.
const latencyMethod = `The publisher (-sent-at) writes into each event's payload "sent_at", the time its first copy was put in a request ` +
	`(a duplicate carries its original's time, so duplicates stay identical). Afterwards the percentiles of ` +
	`processed_at - sent_at are computed over every stored row. processed_at is now() of the consuming transaction, ` +
	`i.e. its start, so each figure falls short of the commit by that transaction's duration.`

// latency loads the main configuration at half its median end-to-end rate
// for about latencySeconds.
func (b *bench) latency(ctx context.Context, rep *report) error {
	maxRate := float64(rep.Main.Summary.E2EEventsPerSec)
	if math.IsNaN(maxRate) || maxRate <= 0 {
		rep.Notes = append(rep.Notes, "latency run skipped: no main run measured the maximum rate")
		return nil
	}
	rate := math.Round(maxRate / 2)
	events := roundUp(int(rate*b.cfg.latencySeconds), b.cfg.requestEvents)
	r, lat, err := b.measure(ctx, runSpec{
		label: "latency", pipe: rep.Main.Pipeline, events: events, seed: 100, rate: rate, sentAt: true,
	})
	lp := &latencyPhase{
		RateEventsPerSec: num(rate), Run: r, PublishLatencyMs: r.PublishLatencyMs,
		CommitLatencyMs: percentiles{nan(), nan(), nan()}, CommitMaxMs: nan(), Method: latencyMethod,
	}
	if lat != nil {
		lp.CommitLatencyMs = percentiles{num(lat.P50), num(lat.P95), num(lat.P99)}
		lp.CommitMaxMs, lp.CommitRows = num(lat.Max), lat.Rows
	}
	rep.Latency = lp
	return err
}

// sweepAll runs one point per BATCH_SIZE × WORKER_COUNT: batch sizes
// upwards, and for each the worker counts downwards, so that earlier points
// tell how many events keep a slow point short.
func (b *bench) sweepAll(ctx context.Context, rep *report) error {
	sw := &sweep{
		Events: b.cfg.sweepEvents, SmallEvents: b.cfg.sweepSmallEvents, SmallBatch: smallBatch,
		Batches: b.cfg.sweepBatches, Workers: b.cfg.sweepWorkers,
	}
	rep.Sweep = sw
	for _, batch := range b.cfg.sweepBatches {
		for i := len(b.cfg.sweepWorkers) - 1; i >= 0; i-- {
			w := b.cfg.sweepWorkers[i]
			events := sweepPointEvents(b.cfg, batch, w, sw.Points)
			r, _, err := b.measure(ctx, runSpec{
				label: fmt.Sprintf("sweep-b%d-w%d", batch, w), pipe: pipeline{batch, w}, events: events, seed: 200,
			})
			sw.Points = append(sw.Points, r)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sweepPointEvents chooses a sweep point's events: the configured count,
// fewer when earlier points suggest that the run would take longer than
// sweepSeconds. The estimate scales the rate of the same batch size at more
// workers down in proportion to the workers (erring towards fewer events),
// or else the rate of the next smaller batch size at the same workers up in
// proportion to the batch size (erring towards more).
func sweepPointEvents(cfg config, batch, workers int, done []runResult) int {
	n := cfg.sweepEvents
	if batch <= smallBatch {
		n = cfg.sweepSmallEvents
	}
	sameBatch, smallerBatch, smallerSize := math.NaN(), math.NaN(), 0
	for _, p := range done {
		rate := float64(p.E2EEventsPerSec)
		if p.Error != "" || math.IsNaN(rate) {
			continue
		}
		switch b, w := p.Pipeline.BatchSize, p.Pipeline.WorkerCount; {
		case b == batch && w >= workers:
			sameBatch = rate * float64(workers) / float64(w)
		case b < batch && w == workers && b > smallerSize:
			smallerBatch, smallerSize = rate, b
		}
	}
	estimate := sameBatch
	if math.IsNaN(estimate) && smallerSize > 0 {
		// As if each transaction cost the same whatever its size: an
		// upper bound, so it only shortens points that are surely slow.
		estimate = smallerBatch * float64(batch) / float64(smallerSize)
	}
	if !math.IsNaN(estimate) {
		n = min(n, int(estimate*cfg.sweepSeconds))
	}
	const floor = 2000
	return max(roundUp(n, cfg.requestEvents), min(floor, cfg.sweepEvents, cfg.sweepSmallEvents))
}

// roundUp rounds n up to a multiple of m, at least m.
func roundUp(n, m int) int {
	if n <= m {
		return m
	}
	return (n + m - 1) / m * m
}

// writeFile writes data to path, creating its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
