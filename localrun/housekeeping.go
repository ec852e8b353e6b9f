package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/redisqueue"
	"github.com/logagg/logagg/shared/store"
)

// consumerIdle is how long a consumer with nothing pending may stay idle
// before housekeeping removes it: a live one reads every second or so.
const consumerIdle = time.Hour

// housekeeping trims acknowledged entries off the stream, so that Redis
// holds little more than the backlog /publish compares with MAX_BACKLOG
// (and settles the backlog count when nothing is waiting), and prunes the
// consumed-message ledger of IDs that can no longer be redelivered, and the
// consumer group of consumers that killed processes left behind.
func housekeeping(ctx context.Context, q *redisqueue.Queue, st *store.Store, cfg config.Config, log *slog.Logger) {
	trim := time.NewTicker(time.Second)
	defer trim.Stop()
	prune := time.NewTicker(10 * time.Minute)
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
			if n, err := st.PruneLedger(ctx, time.Now().Add(-cfg.LedgerRetention)); err != nil {
				log.Warn("ledger prune failed", "error", err)
			} else if n > 0 {
				log.Info("ledger pruned", "message_ids", n)
			}
			if n, err := q.PruneConsumers(ctx, consumerIdle); err != nil {
				log.Warn("consumer prune failed", "error", err)
			} else if n > 0 {
				log.Info("idle consumers removed from the group", "consumers", n)
			}
		}
	}
}
