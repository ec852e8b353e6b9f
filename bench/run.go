package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/logagg/logagg/internal/modroot"
)

// run is the whole benchmark: configuration, the phases, the outputs.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "growth" {
		return runGrowth(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	root, err := checkoutRoot()
	if err != nil {
		return err
	}
	// Relative paths are the checkout's, wherever the command runs from.
	inCheckout(root, &cfg.out, &cfg.chart, &cfg.docsChart, &cfg.logDir)

	started := time.Now()
	b, err := startBench(ctx, cfg, root, started, stderr)
	if err != nil {
		return err
	}
	defer b.svc.Close()

	rep := &report{
		Schema: schemaVersion, StartedAt: started.UTC().Truncate(time.Second),
		Commit: gitDescribe(ctx, root), Changes: gitChanges(ctx, root), Machine: describeMachine(ctx, b.svc),
		Settings: settings{
			Events: cfg.events, BaselineEvents: cfg.baselineEvents, Runs: cfg.runs, DupRate: cfg.dupRate,
			RequestEvents: cfg.requestEvents, Concurrency: cfg.concurrency, MaxBacklog: cfg.maxBacklog,
			LatencySeconds: cfg.latencySeconds, OTLP: cfg.otlp, LocalrunEnv: append([]string{}, cfg.localrunEnv...),
		},
		Ratio: nan(), OTLPRatio: nan(),
		Notes: []string{
			fmt.Sprintf("The baseline (BATCH_SIZE=1 WORKER_COUNT=4) sends %s events per run and the main configuration %s, so that the baseline finishes in reasonable time; both figures are events per second, so they compare.",
				thousands(float64(cfg.baselineEvents)), thousands(float64(cfg.events))),
			"End to end is the time from the first publish request to the moment /stats shows every event sent as received or dead-lettered.",
			"Every process shares this machine's cores: localrun, the publisher, PostgreSQL, Redis and whatever else runs; machine_busy_cores is the whole machine over a run's end-to-end window.",
		},
	}
	fmt.Fprintf(stderr, "bench: logs in %s\n", b.logDir)

	err = b.phases(ctx, rep)
	rep.Seconds = num(time.Since(started).Seconds())
	if err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	rep.Targets = evaluateTargets(rep)

	if rep.Sweep != nil {
		svg, err := throughputChart(rep.Sweep, chartSubtitle(rep))
		if err != nil {
			rep.Notes = append(rep.Notes, "no chart: "+err.Error())
		} else {
			if err := writeFile(cfg.chart, svg); err != nil {
				return err
			}
			rep.Chart = relative(root, cfg.chart)
			if cfg.docsChart != "" {
				if err := writeFile(cfg.docsChart, svg); err != nil {
					return err
				}
			}
		}
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(cfg.out, append(data, '\n')); err != nil {
		return err
	}
	printReport(stdout, rep, relative(root, cfg.out), relative(root, cfg.docsChart))
	if cfg.strict {
		for _, t := range rep.Targets {
			if t.Status != statusPass {
				return errTargetsMissed
			}
		}
	}
	return nil
}

// checkoutRoot is the root of the module the command runs in.
func checkoutRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return modroot.Find(wd)
}

// inCheckout makes each relative path relative to root.
func inCheckout(root string, paths ...*string) {
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
}

// startBench makes this invocation's log directory, builds the binaries and
// connects to the servers. The caller closes b.svc.
func startBench(ctx context.Context, cfg config, root string, started time.Time, stderr io.Writer) (*bench, error) {
	b := &bench{cfg: cfg, root: root, cores: runtime.NumCPU(), progress: stderr}
	b.logDir = filepath.Join(cfg.logDir, started.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "bench: building localrun and the publisher …\n")
	var err error
	if b.localrun, b.publisher, err = buildBinaries(ctx, root); err != nil {
		return nil, err
	}
	if b.svc, err = connectServices(ctx, cfg.databaseURL, cfg.redisURL); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) phases(ctx context.Context, rep *report) error {
	if err := b.mainAndBaseline(ctx, rep); err != nil {
		return err
	}
	if b.cfg.profileSeconds > 0 {
		if err := b.profile(ctx, rep); err != nil {
			return err
		}
	}
	if b.cfg.latencySeconds > 0 {
		if err := b.latency(ctx, rep); err != nil {
			return err
		}
	}
	if b.cfg.sweep {
		if err := b.sweepAll(ctx, rep); err != nil {
			return err
		}
	}
	return nil
}

func chartSubtitle(rep *report) string {
	sw := rep.Sweep
	return fmt.Sprintf("one run per point of up to %s events (%s for BATCH_SIZE ≤ %d), %.0f%% duplicates, %d-event publish requests; %d cores; %s",
		thousands(float64(sw.Events)), thousands(float64(sw.SmallEvents)), sw.SmallBatch,
		rep.Settings.DupRate*100, rep.Settings.RequestEvents, rep.Machine.Cores, rep.StartedAt.Format("2006-01-02"))
}

// relative writes path relative to root when it lies inside it.
func relative(root, path string) string {
	if path == "" {
		return ""
	}
	if r, err := filepath.Rel(root, path); err == nil && filepath.IsLocal(r) {
		return r
	}
	return path
}
