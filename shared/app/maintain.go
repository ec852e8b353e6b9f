package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/store"
)

// Policy is how long the store keeps each kind of record, from cfg.
func Policy(cfg config.Config) store.Policy {
	return store.Policy{
		Retention:      cfg.Retention,
		DedupWindow:    cfg.DedupWindow,
		DuplicateAudit: cfg.DuplicateAuditRetention,
		DeadLetters:    cfg.DeadLetterRetention,
		Ledger:         cfg.LedgerRetention,
	}
}

// Maintain runs one maintenance pass over st with cfg's Policy: localrun
// runs it every MAINTENANCE_INTERVAL, the maintain function on a schedule.
// It logs what the pass did at info when it did something, a pass that
// another process was running or that found nothing to do at debug, and a
// failure at warn (a pass cut short by ctx's cancellation, which is the
// process stopping, at debug).
func Maintain(ctx context.Context, st *store.Store, cfg config.Config, log *slog.Logger) (store.Maintenance, error) {
	start := time.Now()
	m, err := st.Maintain(ctx, Policy(cfg))
	did := []any{"took", time.Since(start).Round(time.Millisecond),
		"partitions_dropped", m.Dropped, "events_dropped_estimate", m.DroppedEvents,
		"partitions_closed", m.Closed, "partitions_analyzed", m.Analyzed, "keys_forgotten", m.Keys,
		"duplicate_audit_pruned", m.Duplicates, "dead_letters_pruned", m.DeadLetters,
		"ledger_entries_pruned", m.LedgerEntries,
		"steps", slog.GroupValue(
			slog.Duration("partitions_ahead", m.Spent.Partitions.Round(time.Millisecond)),
			slog.Duration("dropping", m.Spent.Dropping.Round(time.Millisecond)),
			slog.Duration("resting", m.Rested.Round(time.Millisecond)),
			slog.Duration("closing", m.Spent.Closing.Round(time.Millisecond)),
			slog.Duration("analyzing", m.Spent.Analyzing.Round(time.Millisecond)),
			slog.Duration("summarising", m.Spent.Summarising.Round(time.Millisecond)),
			slog.Duration("pruning", m.Spent.Pruning.Round(time.Millisecond)))}
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		log.Debug("store maintenance stopped", did...) // the process is stopping
	case err != nil:
		// What the pass did before it failed stays done.
		log.Warn("store maintenance failed", append([]any{"error", err}, did...)...)
	case m.Skipped:
		log.Debug("store maintenance skipped: another process is maintaining the store")
	case len(m.Dropped)+len(m.Closed) == 0 && m.Keys+m.Duplicates+m.DeadLetters+m.LedgerEntries == 0:
		log.Debug("store maintained: nothing to do", did[:2]...)
	default:
		log.Info("store maintained", did...)
	}
	return m, err
}
