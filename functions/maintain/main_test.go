package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/modroot"
	"github.com/logagg/logagg/internal/testenv"
)

// scheduleEvent is the stub EventBridge event of events/.
func scheduleEvent(t *testing.T) events.EventBridgeEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(modroot.ForTest(t), "events", "maintain-schedule.json"))
	require.NoError(t, err)
	var ev events.EventBridgeEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.Equal(t, "Scheduled Event", ev.DetailType)
	return ev
}

// newMaintainer builds the function as its main does, on a database that
// holds records from three days ago, and returns them.
func newMaintainer(t *testing.T, env envmap.Env) (*maintainer, testenv.Aged) {
	t.Helper()
	env["DATABASE_URL"] = testenv.NewDatabase(t)
	env["PARTITION_INTERVAL"] = "24h" // the seeded records lie outside the partition for now
	h, err := run(context.Background(), env.Getenv, &bytes.Buffer{})
	require.NoError(t, err)
	t.Cleanup(h.store.Close)
	return h, testenv.SeedAged(t, env["DATABASE_URL"], 72*time.Hour, 4)
}

func TestScheduledPassAppliesTheRetentionSettings(t *testing.T) {
	t.Parallel()
	h, aged := newMaintainer(t, envmap.Env{
		"RETENTION": "24h", "DEDUP_WINDOW": "48h", "DUPLICATE_AUDIT_RETENTION": "24h",
		"DEAD_LETTER_RETENTION": "24h", "LEDGER_RETENTION": "24h",
	})
	got, err := h.Handle(context.Background(), scheduleEvent(t))
	require.NoError(t, err)
	require.Equal(t, result{
		PartitionsDropped: []string{aged.Partition}, EventsDroppedEstimate: 4, KeysForgotten: 4,
		DuplicateAuditPruned: 1, DeadLettersPruned: 1, LedgerEntriesPruned: 1,
	}, got)

	got, err = h.Handle(context.Background(), scheduleEvent(t))
	require.NoError(t, err)
	require.Equal(t, result{}, got, "nothing is left to do")
}

// A pass ends stopMargin before the invocation's deadline, so that it
// releases its lock itself: with less time than that it does nothing.
func TestScheduledPassStopsShortOfTheDeadline(t *testing.T) {
	t.Parallel()
	h, aged := newMaintainer(t, envmap.Env{"RETENTION": "24h"})
	ctx, cancel := context.WithTimeout(context.Background(), stopMargin/2)
	defer cancel()
	_, err := h.Handle(ctx, scheduleEvent(t))
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "the pass gave up before the invocation's own deadline")

	got, err := h.Handle(context.Background(), scheduleEvent(t))
	require.NoError(t, err)
	require.Equal(t, []string{aged.Partition}, got.PartitionsDropped, "the next pass carries on")
}
