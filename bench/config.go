package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logagg/logagg/internal/proc"
)

// config is the command line and environment, checked. Every flag takes its
// default from a BENCH_* variable, so `make bench BENCH_EVENTS=…` works.
type config struct {
	runSettings
	events         int     // main runs' events
	runs           int     // runs of main and of baseline
	baselineEvents int     // baseline runs' events
	latencySeconds float64 // length of the latency run at half the maximum rate; 0 skips it
	profileSeconds float64 // length of localrun's CPU profile, in a run of its own; 0 takes none
	otlp           bool    // also run the main configuration loaded over OTLP/HTTP

	sweep            bool
	sweepEvents      int     // events per sweep point
	sweepSmallEvents int     // events per sweep point with BATCH_SIZE ≤ smallBatch
	sweepBatches     []int   // BATCH_SIZE values
	sweepWorkers     []int   // WORKER_COUNT values
	sweepSeconds     float64 // rough cap on one sweep point's length

	out       string // JSON results
	chart     string // SVG chart
	docsChart string // where the chart is copied; empty: nowhere
	strict    bool   // exit 1 when a target is missed
}

// runSettings are what every measured run needs, whichever benchmark it is
// part of: the load's shape, localrun's configuration and the servers.
type runSettings struct {
	dupRate       float64 // share of duplicates
	requestEvents int     // events per publish request
	concurrency   int     // publish requests in flight
	batchSize     int     // main configuration's BATCH_SIZE
	workers       int     // main configuration's WORKER_COUNT
	maxBacklog    int64   // MAX_BACKLOG for every run

	localrunEnv []string // extra KEY=VALUE for localrun
	databaseURL string   // any database on the PostgreSQL server the runs use
	redisURL    string
	logDir      string // localrun and publisher logs
	runTimeout  time.Duration
}

// smallBatch is the largest BATCH_SIZE whose sweep points send
// sweepSmallEvents: one-event transactions are slow enough that a full
// sweep load would take minutes per point.
const smallBatch = 10

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	env := envDefaults{getenv: getenv}

	fs.IntVar(&c.events, "events", env.int("BENCH_EVENTS", 1_000_000), "events per main run, duplicates included (BENCH_EVENTS)")
	fs.IntVar(&c.runs, "runs", env.int("BENCH_RUNS", 3), "runs of the main and of the baseline configuration; figures are their median (BENCH_RUNS)")
	fs.IntVar(&c.baselineEvents, "baseline-events", env.int("BENCH_BASELINE_EVENTS", 50_000), "events per baseline run (BENCH_BASELINE_EVENTS)")
	finishRun := c.runSettings.register(fs, &env)
	fs.Float64Var(&c.latencySeconds, "latency-seconds", env.float("BENCH_LATENCY_SECONDS", 20), "seconds of load at half the maximum rate for latency; 0 skips it (BENCH_LATENCY_SECONDS)")
	fs.Float64Var(&c.profileSeconds, "profile-seconds", env.float("BENCH_PROFILE_SECONDS", 0), "take a CPU profile of localrun over this many seconds of an extra main-configuration run, which no figure counts; 0 takes none (BENCH_PROFILE_SECONDS)")
	fs.BoolVar(&c.otlp, "otlp", env.bool("BENCH_OTLP", true), "also run the main configuration with the load sent as OTLP/HTTP protobuf exports to /v1/logs, alternating with the main runs (BENCH_OTLP=0 turns it off)")
	fs.BoolVar(&c.sweep, "sweep", env.bool("BENCH_SWEEP", true), "sweep BATCH_SIZE × WORKER_COUNT for the chart (BENCH_SWEEP=0 turns it off)")
	fs.IntVar(&c.sweepEvents, "sweep-events", env.int("BENCH_SWEEP_EVENTS", 100_000), "events per sweep point (BENCH_SWEEP_EVENTS)")
	fs.IntVar(&c.sweepSmallEvents, "sweep-small-events", env.int("BENCH_SWEEP_SMALL_EVENTS", 20_000), fmt.Sprintf("events per sweep point with BATCH_SIZE ≤ %d (BENCH_SWEEP_SMALL_EVENTS)", smallBatch))
	batches := fs.String("sweep-batches", env.str("BENCH_SWEEP_BATCHES", "1,10,50,100,500,1000"), "BATCH_SIZE values of the sweep (BENCH_SWEEP_BATCHES)")
	workers := fs.String("sweep-workers", env.str("BENCH_SWEEP_WORKERS", "1,2,4,8"), "WORKER_COUNT values of the sweep (BENCH_SWEEP_WORKERS)")
	fs.Float64Var(&c.sweepSeconds, "sweep-point-seconds", env.float("BENCH_SWEEP_POINT_SECONDS", 15), "fewer events for a sweep point that earlier points show would take longer than this (BENCH_SWEEP_POINT_SECONDS)")
	fs.StringVar(&c.out, "out", env.str("BENCH_OUT", "bench/results/latest.json"), "JSON results file (BENCH_OUT)")
	fs.StringVar(&c.chart, "chart", env.str("BENCH_CHART", ""), "SVG chart file (BENCH_CHART; default: -out with .svg for .json)")
	fs.StringVar(&c.docsChart, "docs-chart", env.str("BENCH_DOCS_CHART", "docs/bench-throughput.svg"), "copy of the chart for the docs; empty: none (BENCH_DOCS_CHART)")
	fs.BoolVar(&c.strict, "strict", env.bool("BENCH_STRICT", false), "exit with status 1 when a target is missed (BENCH_STRICT)")
	if err := proc.ParseFlags(fs, args, "Benchmarks logagg end to end: localrun against fresh databases and streams, loaded by the publisher.", stderr); err != nil {
		return c, err
	}
	if err := env.err(); err != nil {
		return c, err
	}
	if err := finishRun(); err != nil {
		return c, err
	}
	if c.chart == "" {
		c.chart = chartBeside(c.out)
	}
	var err error
	if c.sweepBatches, err = parseInts("-sweep-batches", *batches, 1, 10000); err != nil {
		return c, err
	}
	if c.sweepWorkers, err = parseInts("-sweep-workers", *workers, 1, 1024); err != nil {
		return c, err
	}
	return c, c.check()
}

// register adds the run settings' flags to fs. The function it returns
// reads what the flags could not, once fs has parsed.
func (r *runSettings) register(fs *flag.FlagSet, env *envDefaults) func() error {
	fs.Float64Var(&r.dupRate, "dup-rate", env.float("BENCH_DUP_RATE", 0.3), "share of sent events that repeat an earlier one (BENCH_DUP_RATE)")
	fs.IntVar(&r.requestEvents, "request-events", env.int("BENCH_REQUEST_EVENTS", 500), "events per publish request (BENCH_REQUEST_EVENTS)")
	fs.IntVar(&r.concurrency, "concurrency", env.int("BENCH_CONCURRENCY", 4), "publish requests in flight (BENCH_CONCURRENCY)")
	fs.IntVar(&r.batchSize, "batch-size", env.int("BENCH_BATCH_SIZE", 500), "BATCH_SIZE of the main configuration (BENCH_BATCH_SIZE)")
	fs.IntVar(&r.workers, "workers", env.int("BENCH_WORKER_COUNT", 4), "WORKER_COUNT of the main configuration (BENCH_WORKER_COUNT)")
	backlog := fs.Int64("max-backlog", int64(env.int("BENCH_MAX_BACKLOG", 1_000_000)), "MAX_BACKLOG of every run (BENCH_MAX_BACKLOG)")
	localrunEnv := fs.String("localrun-env", env.str("BENCH_LOCALRUN_ENV", ""), "extra KEY=VALUE,… for every localrun, e.g. DB_MAX_CONNS=16 (BENCH_LOCALRUN_ENV)")
	fs.StringVar(&r.databaseURL, "database-url", env.first("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "BENCH_DATABASE_URL", "DATABASE_URL"), "PostgreSQL server to create the run databases on; its database part is ignored (BENCH_DATABASE_URL, DATABASE_URL)")
	fs.StringVar(&r.redisURL, "redis-url", env.first("redis://127.0.0.1:6379/0", "BENCH_REDIS_URL", "REDIS_URL"), "Redis for the runs' streams (BENCH_REDIS_URL, REDIS_URL)")
	fs.StringVar(&r.logDir, "log-dir", env.str("BENCH_LOG_DIR", ".bench/logs"), "directory for the processes' logs (BENCH_LOG_DIR)")
	fs.DurationVar(&r.runTimeout, "run-timeout", env.duration("BENCH_RUN_TIMEOUT", 10*time.Minute), "give up on one run after this long (BENCH_RUN_TIMEOUT)")
	return func() error {
		r.maxBacklog = *backlog
		var err error
		r.localrunEnv, err = parseEnvList(*localrunEnv)
		return err
	}
}

// chartBeside is the SVG file that goes with the JSON file out.
func chartBeside(out string) string {
	return strings.TrimSuffix(out, filepath.Ext(out)) + ".svg"
}

func (c config) check() error {
	switch {
	case c.events < 1 || c.baselineEvents < 1 || c.sweepEvents < 1 || c.sweepSmallEvents < 1:
		return proc.UsageError("event counts must be at least 1")
	case c.runs < 1:
		return proc.UsageError("-runs must be at least 1")
	case !(c.profileSeconds >= 0):
		return proc.UsageError("-profile-seconds must be 0 (no profile) or positive")
	case !(c.latencySeconds >= 0):
		return proc.UsageError("-latency-seconds must be 0 (skip) or positive")
	case !(c.sweepSeconds > 0):
		return proc.UsageError("-sweep-point-seconds must be positive")
	case c.out == "":
		return proc.UsageError("-out must name a file")
	}
	return c.runSettings.check()
}

func (r runSettings) check() error {
	switch {
	case !(r.dupRate >= 0 && r.dupRate < 1):
		return proc.UsageError("-dup-rate must be at least 0 and below 1, e.g. 0.3")
	case r.requestEvents < 1 || r.concurrency < 1:
		return proc.UsageError("-request-events and -concurrency must be at least 1")
	case r.batchSize < 1 || r.batchSize > 10000:
		return proc.UsageError("-batch-size must be between 1 and 10000, as BATCH_SIZE")
	case r.workers < 1 || r.workers > 1024:
		return proc.UsageError("-workers must be between 1 and 1024")
	case r.maxBacklog < 0:
		return proc.UsageError("-max-backlog must be 0 (no limit) or positive")
	case r.runTimeout <= 0:
		return proc.UsageError("-run-timeout must be positive")
	}
	for name, raw := range map[string]string{"-database-url": r.databaseURL, "-redis-url": r.redisURL} {
		if u, err := url.Parse(raw); err != nil || u.Host == "" {
			return proc.UsageError(fmt.Sprintf("%s %q is not a URL with a host", name, raw))
		}
	}
	return nil
}

// parseInts reads "1,10,50" into distinct values within [lo, hi], in
// ascending order.
func parseInts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < lo || n > hi {
			return nil, proc.UsageError(fmt.Sprintf("%s: %q is not a whole number between %d and %d", name, part, lo, hi))
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, proc.UsageError(name + " needs at least one value, e.g. 1,10,100")
	}
	slices.Sort(out)
	return out, nil
}

// localrunOwned are the variables the harness sets itself for every run.
var localrunOwned = []string{"DATABASE_URL", "REDIS_URL", "STREAM_NAME", "PORT", "BATCH_SIZE", "WORKER_COUNT", "MAX_BACKLOG"}

// parseEnvList reads "K=V,K2=V2" into KEY=VALUE entries.
func parseEnvList(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, _, ok := strings.Cut(part, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, proc.UsageError(fmt.Sprintf("-localrun-env: %q is not KEY=VALUE", part))
		}
		if slices.Contains(localrunOwned, k) {
			return nil, proc.UsageError(fmt.Sprintf("-localrun-env: %s is set by the harness for each run", k))
		}
		out = append(out, part)
	}
	return out, nil
}

// envDefaults reads flag defaults from the environment and remembers the
// values it could not read.
type envDefaults struct {
	getenv func(string) string
	errs   []error
}

func (e *envDefaults) str(name, def string) string { return e.first(def, name) }

func (e *envDefaults) first(def string, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(e.getenv(n)); v != "" {
			return v
		}
	}
	return def
}

func (e *envDefaults) int(name string, def int) int {
	return parsed(e, name, def, "a whole number", func(v string) (int, error) {
		return strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	})
}

func (e *envDefaults) float(name string, def float64) float64 {
	return parsed(e, name, def, "a number", func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
}

func (e *envDefaults) bool(name string, def bool) bool {
	return parsed(e, name, def, "0/1/true/false", strconv.ParseBool)
}

func (e *envDefaults) duration(name string, def time.Duration) time.Duration {
	return parsed(e, name, def, "a duration such as 10m", time.ParseDuration)
}

// parsed is variable name read with parse, or def when it is unset or does
// not parse; in that case the error, saying the value is not what, is
// remembered.
func parsed[T any](e *envDefaults, name string, def T, what string, parse func(string) (T, error)) T {
	v := e.str(name, "")
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		e.errs = append(e.errs, proc.UsageError(fmt.Sprintf("%s=%q: not %s", name, v, what)))
		return def
	}
	return x
}

func (e *envDefaults) err() error { return errors.Join(e.errs...) }
