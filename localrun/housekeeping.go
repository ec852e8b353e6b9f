package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/redisqueue"
	"github.com/logagg/logagg/shared/store"
)

// housekeeping trims acknowledged entries off the stream, so that Redis
// holds little more than the backlog /publish compares with MAX_BACKLOG
// (and settles the backlog count when nothing is waiting), and prunes the
// consumed-message ledger of IDs that can no longer be redelivered.
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
		}
	}
}
