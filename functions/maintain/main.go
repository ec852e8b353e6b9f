// Command maintain is the maintain Lambda function: an EventBridge schedule
// → one pass of the store's maintenance (partitions ahead, RETENTION and
// the other retention settings) → PostgreSQL.
package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logagg/logagg/functions/boot"
	"github.com/logagg/logagg/shared/app"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/store"
)

func main() { boot.Scheduled("maintain", run) }

// run opens the PostgreSQL pool once per execution environment.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) (*maintainer, error) {
	cfg, logger, st, err := app.InitWithStore(ctx, getenv, stderr)
	if err != nil {
		return nil, err
	}
	return &maintainer{store: st, cfg: cfg, log: logger}, nil
}

// stopMargin is how long before the invocation's deadline a pass is cut
// short, so that it ends its statements and releases its lock itself; what
// it did stays done, and the next pass carries on.
const stopMargin = 10 * time.Second

type maintainer struct {
	store *store.Store
	cfg   config.Config
	log   *slog.Logger
}

// result is what a pass did, named as in its log line.
type result struct {
	Skipped               bool     `json:"skipped"`
	PartitionsDropped     []string `json:"partitions_dropped"`
	EventsDroppedEstimate int64    `json:"events_dropped_estimate"`
	PartitionsClosed      []string `json:"partitions_closed"`
	KeysForgotten         int64    `json:"keys_forgotten"`
	DuplicateAuditPruned  int64    `json:"duplicate_audit_pruned"`
	DeadLettersPruned     int64    `json:"dead_letters_pruned"`
	LedgerEntriesPruned   int64    `json:"ledger_entries_pruned"`
}

// Handle runs one maintenance pass; a failed one is the invocation's error,
// and the next scheduled pass retries it.
func (h *maintainer) Handle(ctx context.Context, _ events.EventBridgeEvent) (result, error) {
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-stopMargin))
		defer cancel()
	}
	m, err := app.Maintain(ctx, h.store, h.cfg, h.log)
	return result{
		Skipped: m.Skipped, PartitionsDropped: m.Dropped, EventsDroppedEstimate: m.DroppedEvents,
		PartitionsClosed: m.Closed, KeysForgotten: m.Keys, DuplicateAuditPruned: m.Duplicates,
		DeadLettersPruned: m.DeadLetters, LedgerEntriesPruned: m.LedgerEntries,
	}, err
}
