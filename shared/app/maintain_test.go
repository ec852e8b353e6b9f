package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/config"
	"github.com/logagg/logagg/shared/store"
)

func TestPolicyIsTheRetentionSettings(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(envmap.Env{
		"RETENTION": "24h", "DEDUP_WINDOW": "48h", "DUPLICATE_AUDIT_RETENTION": "72h",
		"DEAD_LETTER_RETENTION": "96h", "LEDGER_RETENTION": "120h",
	}.Getenv)
	require.NoError(t, err)
	require.Equal(t, store.Policy{
		Retention: 24 * time.Hour, DedupWindow: 48 * time.Hour, DuplicateAudit: 72 * time.Hour,
		DeadLetters: 96 * time.Hour, Ledger: 120 * time.Hour,
	}, Policy(cfg))
}

// openForMaintenance opens a fresh database's store with the configuration
// env gives, as a composition root does.
func openForMaintenance(t *testing.T, env envmap.Env) (config.Config, *store.Store) {
	t.Helper()
	env["DATABASE_URL"] = testenv.NewDatabase(t)
	if _, ok := env["PARTITION_INTERVAL"]; !ok {
		// Days: the records SeedAged puts days back must not fall in the
		// partition for now.
		env["PARTITION_INTERVAL"] = "24h"
	}
	cfg, err := config.Load(env.Getenv)
	require.NoError(t, err)
	log, _ := capturedLog()
	st, err := OpenStore(context.Background(), cfg, 0, log)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return cfg, st
}

// A pass that removes something says what at info, in one line; a pass
// with nothing left to do says nothing at info.
func TestMaintainLogsWhatItDid(t *testing.T) {
	t.Parallel()
	cfg, st := openForMaintenance(t, envmap.Env{
		"RETENTION": "24h", "DEDUP_WINDOW": "48h", "DUPLICATE_AUDIT_RETENTION": "24h",
		"DEAD_LETTER_RETENTION": "24h", "LEDGER_RETENTION": "24h",
	})
	aged := testenv.SeedAged(t, cfg.DatabaseURL, 72*time.Hour, 5)
	log, logs := capturedLog()

	m, err := Maintain(context.Background(), st, cfg, log)
	require.NoError(t, err)
	require.Equal(t, []string{aged.Partition}, m.Dropped)
	require.Equal(t, int64(5), m.DroppedEvents)
	require.Equal(t, int64(5), m.Keys)
	require.Equal(t, int64(1), m.Duplicates)
	require.Equal(t, int64(1), m.DeadLetters)
	require.Equal(t, int64(1), m.LedgerEntries)
	require.Equal(t, map[string]int{"processed_events": 0, "event_keys": 0, "duplicate_events": 0, "dead_letters": 0, "consumed_messages": 0},
		rowCounts(t, cfg.DatabaseURL, "processed_events", "event_keys", "duplicate_events", "dead_letters", "consumed_messages"))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 1, logs.String())
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
	require.Equal(t, "INFO", line["level"])
	require.Equal(t, "store maintained", line["msg"])
	require.Equal(t, []any{aged.Partition}, line["partitions_dropped"])
	require.Equal(t, float64(5), line["events_dropped_estimate"])
	require.Equal(t, float64(1), line["ledger_entries_pruned"])

	logs.Reset()
	m, err = Maintain(context.Background(), st, cfg, log)
	require.NoError(t, err)
	require.Empty(t, m.Dropped)
	require.Empty(t, logs.String(), "nothing to do is not worth an info line")
}

// The defaults keep everything but the ledger, which is kept for 168h.
func TestMaintainByDefaultKeepsEverything(t *testing.T) {
	t.Parallel()
	cfg, st := openForMaintenance(t, envmap.Env{})
	aged := testenv.SeedAged(t, cfg.DatabaseURL, 90*24*time.Hour, 3)
	log, _ := capturedLog()

	m, err := Maintain(context.Background(), st, cfg, log)
	require.NoError(t, err)
	require.Empty(t, m.Dropped)
	require.Zero(t, m.Keys+m.Duplicates+m.DeadLetters)
	require.Equal(t, int64(1), m.LedgerEntries, "the ledger entry from 90 days ago is past LEDGER_RETENTION")
	require.Equal(t, map[string]int{"processed_events": aged.Events, "event_keys": aged.Events, "duplicate_events": 1, "dead_letters": 1, "consumed_messages": 0},
		rowCounts(t, cfg.DatabaseURL, "processed_events", "event_keys", "duplicate_events", "dead_letters", "consumed_messages"))
}

// rowCounts counts the rows of each table.
func rowCounts(t *testing.T, databaseURL string, tables ...string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	counts := map[string]int{}
	for _, table := range tables {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n))
		counts[table] = n
	}
	return counts
}

// A failed pass is a warning that names the error; one cut short because
// the process is stopping is not.
func TestMaintainWarnsOnFailure(t *testing.T) {
	t.Parallel()
	cfg, st := openForMaintenance(t, envmap.Env{})
	log, logs := capturedLog()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Maintain(ctx, st, cfg, log)
	require.Error(t, err)
	require.Empty(t, logs.String(), "stopping is no failure")

	st.Close()
	_, err = Maintain(context.Background(), st, cfg, log)
	require.Error(t, err)
	require.Contains(t, logs.String(), `"level":"WARN","msg":"store maintenance failed"`)
}

// OpenStore creates partitions of PARTITION_INTERVAL.
func TestOpenStoreUsesThePartitionInterval(t *testing.T) {
	t.Parallel()
	cfg, _ := openForMaintenance(t, envmap.Env{"PARTITION_INTERVAL": "2h"})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT b[2]::timestamptz - b[1]::timestamptz
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
			regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''(.+)''\) TO \(''(.+)''\)') AS b
		WHERE i.inhparent = 'processed_events'::regclass`)
	require.NoError(t, err)
	lengths, err := pgx.CollectRows(rows, pgx.RowTo[time.Duration])
	require.NoError(t, err)
	require.NotEmpty(t, lengths)
	for _, l := range lengths {
		require.Equal(t, 2*time.Hour, l)
	}
}
