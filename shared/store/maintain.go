package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// execer is what a pool, a connection and a transaction can all execute.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Policy says how long the store keeps each kind of record. A zero
// duration keeps it for ever.
type Policy struct {
	// Retention is how long events are kept after they were processed
	// (RETENTION). They are removed a partition at a time, so an event
	// stays up to one partition interval longer.
	Retention time.Duration
	// DedupWindow is how long a key is remembered after its event was
	// processed (DEDUP_WINDOW): a duplicate that comes later is stored
	// again. A key is never forgotten while its event is kept.
	DedupWindow time.Duration
	// DuplicateAudit is how long the audit of dropped duplicates is kept
	// (DUPLICATE_AUDIT_RETENTION).
	DuplicateAudit time.Duration
	// DeadLetters is how long dead letters are kept, replayed or not
	// (DEAD_LETTER_RETENTION).
	DeadLetters time.Duration
	// Ledger is how long the IDs of consumed messages are kept
	// (LEDGER_RETENTION). It must be longer than the queue may take to
	// redeliver a message: see PruneLedger.
	Ledger time.Duration
}

// DefaultLedgerRetention is how long the ledger keeps a consumed message's
// ID by default (LEDGER_RETENTION): longer than a queue redelivers (SQS
// keeps a message 4 days in the template).
const DefaultLedgerRetention = 7 * 24 * time.Hour

// Maintenance is what one Maintain pass did.
type Maintenance struct {
	// Skipped is set when another process was maintaining the store.
	Skipped bool
	// Closed names the partitions whose window indexes were built.
	Closed []string
	// Analyzed names the partitions taking rows that were analyzed.
	Analyzed []string
	// Dropped names the partitions removed by retention, and DroppedEvents
	// is about how many events they held (PostgreSQL's estimate).
	Dropped       []string
	DroppedEvents int64
	// Rested is how long the pass paused between the steps of the drops,
	// and after the last (before closing a partition, or at its end), for
	// ingest's sake: see diskPacer.
	Rested time.Duration
	// Spent is how long each step of the pass took.
	Spent MaintenanceSteps
	// The rows forgotten by age.
	Keys, Duplicates, DeadLetters, LedgerEntries int64
}

// MaintenanceSteps is how long each step of a Maintain pass took, in the
// order they run: where the time of a slow pass went.
type MaintenanceSteps struct {
	Partitions  time.Duration // creating the partitions ahead
	Dropping    time.Duration // detaching and dropping, with the rests between drops
	Closing     time.Duration // closing ended partitions
	Analyzing   time.Duration // analyzing the partition taking rows, when stale
	Summarising time.Duration // the BRIN ranges filled since the last pass
	Pruning     time.Duration // forgetting keys and records by age
}

// maintenanceLock is the advisory lock key held for a whole Maintain pass.
const maintenanceLock = 0x6c6f6761676702 // "logagg" 02

// deleteChunk is how many rows one statement of a prune deletes, so that
// no transaction holds many row locks or a long snapshot.
const deleteChunk = 10000

// Maintain looks after the store's growth, by the database's clock:
//
//  1. It creates the partitions for the intervals ahead.
//  2. It drops the partitions whose whole range lies further back than
//     p.Retention.
//  3. It closes the partitions whose range is over: vacuums them and builds
//     the indexes that serve time windows (see windowIndexes).
//  4. It analyzes the partition taking rows when its statistics are
//     missing or stale (a pass that dropped partitions leaves stale ones to
//     the next), and summarises the block ranges of the BRIN index on
//     "timestamp" that rows filled since.
//  5. It forgets the keys, the duplicate audit, the dead letters and the
//     ledger entries older than p says.
//
// Only one process maintains at a time: another one's pass is Skipped. A
// pass may take long on its first run after the migration, which closes the
// migrated partition; what it has done stays done if it is interrupted.
func (s *Store) Maintain(ctx context.Context, p Policy) (m Maintenance, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return m, s.unavailable(err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(maintenanceLock)).Scan(&locked); err != nil {
		return m, s.classify(err, "maintaining the store")
	}
	if !locked {
		m.Skipped = true
		return m, nil
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(maintenanceLock)); err != nil {
			_ = conn.Conn().Close(ctx)
		}
	}()

	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return m, s.classify(err, "maintaining the store")
	}
	step := time.Now()
	lap := func(d *time.Duration) {
		*d, step = time.Since(step), time.Now()
	}
	if err := s.ensurePartitions(ctx, conn, now, now.Add(partitionsAhead*s.interval)); err != nil {
		return m, err
	}
	lap(&m.Spent.Partitions)
	parts, err := partitions(ctx, conn)
	if err != nil {
		return m, s.classify(err, "listing partitions")
	}
	var due, kept []partition
	for _, part := range parts {
		// A partition pending detach is no longer read, and blocks every
		// other concurrent detach: finish it whatever RETENTION says now.
		if part.pending || p.Retention > 0 && !part.to.After(now.Add(-p.Retention)) {
			due = append(due, part)
		} else {
			kept = append(kept, part)
		}
	}
	// A table has at most one partition pending detach: the one an
	// interrupted pass left is finished before another detach can begin.
	slices.SortStableFunc(due, func(a, b partition) int {
		switch {
		case a.pending == b.pending:
			return 0
		case a.pending:
			return -1
		}
		return 1
	})
	orphans, err := detachedPartitions(ctx, conn)
	if err != nil {
		return m, s.classify(err, "listing detached partitions")
	}
	for _, name := range orphans {
		due = append(due, partition{name: name})
	}
	var pace diskPacer
	// However the pass ends, it reports the rests it took.
	defer func() { m.Rested = pace.rested }()
	for _, part := range due {
		var n float64
		_ = conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`, part.name).Scan(&n)
		if err := s.ledgerMessagesOf(ctx, conn, part, now, p.Ledger); err != nil {
			return m, s.classify(err, "keeping the messages of partition "+part.name+" in the ledger")
		}
		err := s.dropPartition(ctx, conn, part.name, &pace)
		if err != nil {
			return m, s.classify(err, "dropping partition "+part.name)
		}
		m.Dropped = append(m.Dropped, part.name)
		m.DroppedEvents += max(int64(n), 0)
	}
	lap(&m.Spent.Dropping)
	var open []partition // the partitions not closed: taking rows, ahead, or just ended
	for _, part := range kept {
		if part.to.After(now.Add(-closeMargin)) {
			open = append(open, part)
			continue
		}
		built, err := s.closePartition(ctx, conn, part.name, &pace)
		if err != nil {
			return m, s.classify(err, "closing partition "+part.name)
		}
		if built {
			m.Closed = append(m.Closed, part.name)
		}
	}
	lap(&m.Spent.Closing)
	var openNames []string
	for _, part := range open {
		openNames = append(openNames, pgx.Identifier{part.name}.Sanitize())
		if part.from.After(now) {
			continue
		}
		// A pass that dropped partitions leaves stale statistics to the
		// next pass: both steps are heavy, one on the disk and one on the
		// processors, and ingest would bear them at once. Missing ones
		// cannot wait.
		analyzed, err := analyzeIfStale(ctx, conn, part.name, len(m.Dropped) == 0)
		if err != nil {
			return m, s.classify(err, "analyzing partition "+part.name)
		}
		if analyzed {
			m.Analyzed = append(m.Analyzed, part.name)
		}
	}
	lap(&m.Spent.Analyzing)

	// The partition taking rows is read by "timestamp" through its BRIN
	// index, which knows nothing of the block ranges filled since the last
	// VACUUM: every window query reads those whole. Summarising them each
	// pass bounds that to what came in since. A closed partition's VACUUM
	// summarised all of its ranges: only the open ones are looked at.
	if _, err := conn.Exec(ctx, `
		SELECT brin_summarize_new_values(i.inhrelid::regclass)
		FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid
		WHERE i.inhparent = 'processed_events_timestamp_brin'::regclass AND x.indrelid = ANY($1::regclass[])`, openNames); err != nil {
		return m, s.classify(err, "summarising the BRIN indexes")
	}
	lap(&m.Spent.Summarising)

	if p.DedupWindow > 0 && len(kept) > 0 && !kept[0].from.IsZero() {
		// Never forget a key whose event is still kept.
		cutoff := now.Add(-p.DedupWindow)
		if kept[0].from.Before(cutoff) {
			cutoff = kept[0].from
		}
		if m.Keys, err = s.deleteOlder(ctx, conn, "event_keys", "processed_at", cutoff); err != nil {
			return m, err
		}
	}
	for _, prune := range []struct {
		keep          time.Duration
		table, column string
		n             *int64
	}{
		{p.DuplicateAudit, "duplicate_events", "dropped_at", &m.Duplicates},
		{p.DeadLetters, "dead_letters", "created_at", &m.DeadLetters},
		{p.Ledger, "consumed_messages", "consumed_at", &m.LedgerEntries},
	} {
		if prune.keep <= 0 {
			continue
		}
		if *prune.n, err = s.deleteOlder(ctx, conn, prune.table, prune.column, now.Add(-prune.keep)); err != nil {
			return m, err
		}
	}
	lap(&m.Spent.Pruning)
	// The work is done: a rest cut short fails nothing.
	_ = pace.wait(ctx)
	return m, nil
}

// analyzeIfStale analyzes the partition taking rows when it has no
// statistics, or, if refresh, when they are stale by autovacuum's default
// measure (more than 50 rows and a tenth of the partition changed since):
// without statistics of its own the planner takes it for empty and scans
// it whole rather than through its BRIN index, and autovacuum may be off or
// not have come by. The measure spares a pass sampling a partition that
// hardly changed. It says whether it analyzed.
func analyzeIfStale(ctx context.Context, db dbConn, name string, refresh bool) (analyzed bool, err error) {
	var stale bool
	err = db.QueryRow(ctx, `
		SELECT s.last_analyze IS NULL AND s.last_autoanalyze IS NULL
			OR $2 AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
		FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
		WHERE s.relid = $1::regclass`, pgx.Identifier{name}.Sanitize(), refresh).Scan(&stale)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		stale = true
	case err != nil:
		return false, err
	}
	if !stale {
		return false, nil
	}
	_, err = db.Exec(ctx, `ANALYZE `+pgx.Identifier{name}.Sanitize())
	return err == nil, err
}

// detachedPartitions names the tables that were partitions of
// processed_events and were detached but not dropped: a pass that stopped
// between the two leaves one. They are recognised by their names, which
// only partitions have; EnsurePartitions creates and attaches a partition
// in one transaction, so no table of that name is detached otherwise.
func detachedPartitions(ctx context.Context, db dbConn) ([]string, error) {
	rows, err := db.Query(ctx, `
		SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND c.relname ~ '^processed_events_[0-9]{8}_[0-9]{4}(_migrated)?$'
			AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// deleteOlder deletes the rows of table whose column is before cutoff,
// deleteChunk rows per statement, and returns how many it deleted.
func (s *Store) deleteOlder(ctx context.Context, q execer, table, column string, cutoff time.Time) (int64, error) {
	t, c := pgx.Identifier{table}.Sanitize(), pgx.Identifier{column}.Sanitize()
	sql := `DELETE FROM ` + t + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + t + ` WHERE ` + c + ` < $1 LIMIT $2))`
	var total int64
	for {
		tag, err := q.Exec(ctx, sql, cutoff, deleteChunk)
		if err != nil {
			return total, s.classify(err, "pruning "+table)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < deleteChunk {
			return total, nil
		}
	}
}

// ledgerMessagesOf puts into the ledger the messages whose events part
// holds and that were consumed within ledger (0: for ever) before now: a
// message whose events were all new has no ledger entry and is recognised
// on redelivery by its rows, which the drop removes. consumed_at is when
// the message was processed, so that the ledger forgets it on time.
func (s *Store) ledgerMessagesOf(ctx context.Context, db dbConn, part partition, now time.Time, ledger time.Duration) error {
	if part.from.IsZero() && part.to.IsZero() {
		return nil // an orphan, detached already: its table is not a partition
	}
	since := time.Time{}
	if ledger > 0 {
		since = now.Add(-ledger)
	}
	if !part.to.After(since) {
		return nil
	}
	_, err := db.Exec(ctx, `
		INSERT INTO consumed_messages (message_id, consumed_at)
		SELECT message_id, max(processed_at) FROM `+pgx.Identifier{part.name}.Sanitize()+`
		WHERE processed_at >= $1 GROUP BY message_id
		ON CONFLICT (message_id) DO NOTHING`, since)
	return err
}
