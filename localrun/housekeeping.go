package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/metrics"
	"github.com/logagg/logagg/shared/redisqueue"
	"github.com/logagg/logagg/shared/store"
)

// consumerIdle is how long a consumer with nothing pending may stay idle
// before housekeeping removes it: a live one reads every second or so.
const consumerIdle = time.Hour

// consumerPruneInterval is how often housekeeping looks for such consumers.
const consumerPruneInterval = 10 * time.Minute

// housekeeping trims acknowledged entries off the stream, so that Redis
// holds little more than the backlog /publish compares with MAX_BACKLOG
// (and settles the backlog count when nothing is waiting), and prunes the
// consumer group of consumers that killed processes left behind.
func housekeeping(ctx context.Context, q *redisqueue.Queue, log *slog.Logger) {
	trim := time.NewTicker(time.Second)
	defer trim.Stop()
	prune := time.NewTicker(consumerPruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-trim.C:
			if _, err := q.Trim(ctx); err != nil && ctx.Err() == nil {
				log.Debug("stream trim failed", "error", err)
			}
		case <-prune.C:
			if n, err := q.PruneConsumers(ctx, consumerIdle); err != nil {
				log.Warn("consumer prune failed", "error", err)
			} else if n > 0 {
				log.Info("idle consumers removed from the group", "consumers", n)
			}
		}
	}
}

// maintenance runs a store maintenance pass at once and then every
// MAINTENANCE_INTERVAL: partitions ahead, retention, pruning by age (see
// store.Maintain). It has a goroutine of its own because a pass may take
// long — the first after the migration closes the migrated partition — and
// must hold up neither start-up nor the stream's trimming. Replicas may all
// run it: one at a time maintains, the others' passes are skipped.
func maintenance(ctx context.Context, st *store.Store, cfg config.Config, log *slog.Logger, m *metrics.Metrics) {
	tick := time.NewTicker(cfg.MaintenanceInterval)
	defer tick.Stop()
	for {
		done, err := app.Maintain(ctx, st, cfg, log)
		switch {
		case ctx.Err() != nil:
			return // stopping: a pass cut short is no failure
		case err != nil:
			m.ObserveMaintenance(metrics.MaintenanceFailed, done.DroppedEvents)
		case done.Skipped:
			m.ObserveMaintenance(metrics.MaintenanceSkipped, 0)
		default:
			m.ObserveMaintenance(metrics.MaintenanceDone, done.DroppedEvents)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
