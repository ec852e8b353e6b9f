package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/shared/store"
)

// growthConfig is `bench growth`'s command line and environment, checked.
// The run settings (load shape, localrun, servers) are the main
// benchmark's, with the same flags and variables.
type growthConfig struct {
	runSettings
	sizes         []int // events preloaded before each set of measurements
	events        int   // events per ingest run, duplicates included
	runs          int   // ingest runs on the preloaded and on an empty database, each
	reads         int   // timed requests per read shape
	cursorPage    int   // the page of a topic's listing that the cursor shape times
	retentionDrop int   // events the retention pass should drop; 0 skips it
	retentionKeys bool  // the retention pass also forgets the dropped events' keys
	// partitionInterval is PARTITION_INTERVAL of the stores the harness
	// opens and of every localrun it starts.
	partitionInterval time.Duration
	out               string
	chart             string
	strict            bool
}

// growthFlagSet is the name -h shows.
const growthFlagSet = "bench growth"

func parseGrowthConfig(args []string, getenv func(string) string, stderr io.Writer, today time.Time) (growthConfig, error) {
	var c growthConfig
	fs := flag.NewFlagSet(growthFlagSet, flag.ContinueOnError)
	env := envDefaults{getenv: getenv}

	sizes := fs.String("sizes", env.str("BENCH_GROWTH_SIZES", "0,5000000,20000000"), "events preloaded before each set of measurements, one fresh database per size (BENCH_GROWTH_SIZES)")
	fs.IntVar(&c.events, "events", env.int("BENCH_GROWTH_EVENTS", 300_000), "events per ingest run, duplicates included (BENCH_GROWTH_EVENTS)")
	fs.IntVar(&c.runs, "runs", env.int("BENCH_GROWTH_RUNS", 3), "ingest runs at each size on the preloaded database, alternating with as many on an empty one; figures are medians (BENCH_GROWTH_RUNS)")
	fs.IntVar(&c.reads, "reads", env.int("BENCH_GROWTH_READS", 200), "timed requests of each read shape (BENCH_GROWTH_READS)")
	fs.IntVar(&c.cursorPage, "cursor-page", env.int("BENCH_GROWTH_CURSOR_PAGE", 50), "the page of a topic's listing the cursor shape times, after following the cursor to it (BENCH_GROWTH_CURSOR_PAGE)")
	fs.IntVar(&c.retentionDrop, "retention-drop", env.int("BENCH_GROWTH_RETENTION_DROP", 5_000_000), "events the retention pass on the largest size should drop, to the nearest partition; 0 skips the pass (BENCH_GROWTH_RETENTION_DROP)")
	fs.BoolVar(&c.retentionKeys, "retention-keys", env.bool("BENCH_GROWTH_RETENTION_KEYS", false), "the retention pass also forgets the dropped events' keys, as with DEDUP_WINDOW = RETENTION (BENCH_GROWTH_RETENTION_KEYS)")
	fs.DurationVar(&c.partitionInterval, "partition-interval", env.duration("BENCH_GROWTH_PARTITION_INTERVAL", store.DefaultPartitionInterval), "PARTITION_INTERVAL of the preloaded stores and of localrun (BENCH_GROWTH_PARTITION_INTERVAL)")
	finishRun := c.runSettings.register(fs, &env)
	fs.StringVar(&c.out, "out", env.str("BENCH_GROWTH_OUT", ""), "JSON results file (BENCH_GROWTH_OUT; default bench/results/growth-<date>.json)")
	fs.StringVar(&c.chart, "chart", env.str("BENCH_GROWTH_CHART", ""), "SVG chart file (BENCH_GROWTH_CHART; default: -out with .svg for .json)")
	fs.BoolVar(&c.strict, "strict", env.bool("BENCH_STRICT", false), "exit with status 1 when a target is missed (BENCH_STRICT)")
	if err := proc.ParseFlags(fs, args, "Measures logagg as its store grows: ingest, reads, disk and a retention pass, with millions of events preloaded.", stderr); err != nil {
		return c, err
	}
	if err := env.err(); err != nil {
		return c, err
	}
	if err := finishRun(); err != nil {
		return c, err
	}
	c.localrunEnv = append(c.localrunEnv, "PARTITION_INTERVAL="+c.partitionInterval.String())
	var err error
	if c.sizes, err = parseInts("-sizes", *sizes, 0, 1_000_000_000); err != nil {
		return c, err
	}
	if c.out == "" {
		c.out = "bench/results/growth-" + today.UTC().Format("2006-01-02") + ".json"
	}
	if c.chart == "" {
		c.chart = chartBeside(c.out)
	}
	return c, c.check()
}

func (c growthConfig) check() error {
	switch {
	case c.events < 1:
		return proc.UsageError("-events must be at least 1")
	case c.runs < 1:
		return proc.UsageError("-runs must be at least 1")
	case c.reads < 1:
		return proc.UsageError("-reads must be at least 1")
	case c.cursorPage < 2:
		return proc.UsageError("-cursor-page must be at least 2: page 1 is the topic shape")
	case c.retentionDrop < 0:
		return proc.UsageError("-retention-drop must be 0 (no retention pass) or positive")
	case c.out == "":
		return proc.UsageError("-out must name a file")
	}
	return c.runSettings.check()
}

// largest is the largest size measured.
func (c growthConfig) largest() int { return c.sizes[len(c.sizes)-1] }

// describe is the settings as the report gives them.
func (c growthConfig) describe() growthSettings {
	return growthSettings{
		Sizes: c.sizes, Events: c.events, Runs: c.runs, Reads: c.reads, CursorPage: c.cursorPage,
		RetentionDrop: c.retentionDrop, RetentionKeys: c.retentionKeys, DupRate: c.dupRate,
		RequestEvents: c.requestEvents, Concurrency: c.concurrency, Pipeline: pipeline{c.batchSize, c.workers},
		MaxBacklog: c.maxBacklog, LocalrunEnv: append([]string{}, c.localrunEnv...),
	}
}

// sizeName names a size in messages: "20,000,000 events".
func sizeName(n int) string {
	return fmt.Sprintf("%s events", thousands(float64(n)))
}
