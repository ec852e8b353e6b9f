package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/api"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/consume"
	"github.com/logagg/logagg/shared/metrics"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/worker"
)

// startupWait is how long localrun waits for PostgreSQL and Redis to come up.
const startupWait = 60 * time.Second

// run builds the service from the environment and serves until ctx ends,
// then shuts down gracefully: the HTTP server stops accepting and finishes
// its requests, and every worker finishes and acknowledges its batch. args
// are the command line's arguments: -h or --help prints the settings
// instead.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, args ...string) error {
	if help, err := parseArgs(args, stderr); help || err != nil {
		return err
	}
	cfg, log, err := app.Init(getenv, stderr, "DATABASE_URL", "REDIS_URL")
	if err != nil {
		return err
	}
	tuneGC(getenv)
	name := cfg.ConsumerName
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}

	st, err := app.OpenStore(ctx, cfg, startupWait, log)
	if err != nil {
		return err
	}
	defer st.Close()
	q, client, err := app.RedisQueue(ctx, cfg, cfg.WorkerCount+32, startupWait, log)
	if err != nil {
		return err
	}
	defer client.Close()

	if cfg.PprofAddr != "" {
		if _, err := startPprof(ctx, cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	m := metrics.New()
	m.RegisterStats(st.Stats)
	handler := &consume.Handler{Store: st, MaxDeliveries: cfg.MaxDeliveries, Logger: log, Observer: m}
	srv := newHTTPServer(cfg, api.New(api.Deps{
		Publisher: q, Reader: st, DeadLetters: st, Published: q, Checks: app.Checks(st, q, "redis"),
		Limits: app.Limits(cfg), MaxBodyBytes: cfg.MaxBodyBytes, MaxMessageEvents: app.MessageEvents(cfg),
		InflightBodyBytes: cfg.InflightBodyBytes, BodyReadTimeout: cfg.BodyReadTimeout,
		APIKeys: cfg.APIKeys, AllowedOrigins: cfg.AllowedOrigins, OTLPTopicAttribute: cfg.OTLPTopicAttribute,
		Version: app.Version, Logger: log, Observer: m, Metrics: m.Handler(),
	}), log)
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("PORT: %w", err)
	}

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	// One consumer fetches for all workers and splits the messages among
	// them by routing group, so that the workers never wait on each other's row
	// locks. A worker beyond the number of groups would get nothing.
	workers := cfg.WorkerCount
	if workers > queue.Groups {
		log.Warn("WORKER_COUNT is above the number of routing groups; running one worker per group",
			"worker_count", cfg.WorkerCount, "workers", queue.Groups)
		workers = queue.Groups
	}
	consumer := q.Consumer(name)
	split := worker.NewSplitter(consumer, workers, cfg.BatchSize, cfg.ClaimIdle/3, log)
	if workers > 0 {
		wg.Go(func() { split.Run(ctx) })
	}
	for i := range workers {
		w := &worker.Worker{
			Consumer: split.Part(i), Handle: handler.Handle,
			BatchSize: cfg.BatchSize, Source: "redis:" + cfg.Stream, Logger: log,
			FinishTimeout: cfg.ShutdownTimeout, Heartbeat: cfg.ClaimIdle / 3, Observer: m,
		}
		wg.Go(func() { _ = w.Run(ctx) })
	}
	if workers > 0 {
		wg.Go(func() { housekeeping(ctx, q, log) })
		wg.Go(func() { maintenance(ctx, st, cfg, log, m) })
	}
	log.Info("logagg listening", "addr", ln.Addr().String(), "workers", workers,
		"batch_size", cfg.BatchSize, "consumer", name, "version", app.Version)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	log.Info("shutting down: no new requests, finishing in-flight batches")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown incomplete", "error", err)
	}
	wg.Wait()
	if workers > 0 {
		// Leave the group, unless something is still pending for others
		// to reclaim, so that stopped processes do not pile up in it.
		if err := consumer.Close(shutdownCtx); err != nil {
			log.Warn("could not leave the consumer group", "error", err)
		}
	}
	log.Info("stopped")
	return nil
}

// newHTTPServer is the server localrun listens with. Slow headers, idle
// keep-alive connections and clients that do not read their answers are
// cut off by the configured timeouts (bodies by the handler's own
// deadline). net/http's own messages (failed accepts, a
// handler writing its header twice) go to the JSON log as warnings.
func newHTTPServer(cfg config.Config, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
