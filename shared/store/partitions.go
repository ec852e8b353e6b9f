package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPartitionInterval is how much processing time one partition of
// processed_events covers when Options leave it 0 (PARTITION_INTERVAL).
const DefaultPartitionInterval = 7 * 24 * time.Hour

// MinPartitionInterval is the shortest partition interval: partitions are
// named to the minute, and every partition costs the planner a little.
const MinPartitionInterval = time.Hour

// partitionsAhead is how many intervals past now the partitions reach
// after EnsurePartitions(now): consumers never wait for the next one.
const partitionsAhead = 2

// closeMargin is how long after a partition's range ended it is taken as
// closed: processed_at is its transaction's start, so a transaction that
// began before the end may still be inserting just after it.
const closeMargin = 10 * time.Minute

// partitionLock is the advisory lock key under which partitions are
// created, closed and dropped, so that replicas never race on DDL.
const partitionLock = 0x6c6f6761676701 // "logagg" 01

// partition is one partition of processed_events and the processed_at
// range [from, to) it holds. A from of the zero time means MINVALUE.
// pending is set while a DETACH … CONCURRENTLY of it is unfinished.
type partition struct {
	name     string
	from, to time.Time
	pending  bool
}

// partitions lists processed_events' partitions, oldest first.
func partitions(ctx context.Context, q querier) ([]partition, error) {
	rows, err := q.Query(ctx, `
		SELECT c.relname,
			CASE WHEN b[1] = 'MINVALUE' THEN NULL ELSE trim(both '''' FROM b[1])::timestamptz END,
			trim(both '''' FROM b[2])::timestamptz,
			i.inhdetachpending
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid,
			regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \((.+)\) TO \((.+)\)') AS b
		WHERE i.inhparent = 'processed_events'::regclass
		ORDER BY 3`)
	if err != nil {
		return nil, err
	}
	var (
		p    partition
		from *time.Time
	)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (partition, error) {
		if err := row.Scan(&p.name, &from, &p.to, &p.pending); err != nil {
			return partition{}, err
		}
		p.from = time.Time{}
		if from != nil {
			p.from = from.UTC()
		}
		p.to = p.to.UTC()
		return p, nil
	})
}

// querier is what both a connection and a transaction can query.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// dbConn is what both the pool and one connection of it can do. Maintain
// works on the connection that holds its lock: from a pool of one
// (DB_MAX_CONNS=1) it would wait for a second connection for ever.
type dbConn interface {
	execer
	querier
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// partitionName names the partition that starts at from, in UTC.
func partitionName(from time.Time) string {
	return "processed_events_" + from.UTC().Format("20060102_1504")
}

// EnsurePartitions creates the partitions of processed_events needed for
// rows processed from from up to to. Partitions lie on a grid of the
// interval (time.Truncate's, on which whole hours and days start at UTC
// midnight), so that replicas agree on them; a
// grid cell that overlaps an existing partition (one left by the migration,
// or made with another interval) is cut down to the gap.
func (s *Store) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	return s.ensurePartitions(ctx, s.pool, from, to)
}

// ensurePartitions is EnsurePartitions on db.
func (s *Store) ensurePartitions(ctx context.Context, db dbConn, from, to time.Time) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return s.classify(err, "creating partitions")
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLock)); err != nil {
		return s.classify(err, "creating partitions")
	}
	existing, err := partitions(ctx, tx)
	if err != nil {
		return s.classify(err, "creating partitions")
	}
	for _, gap := range missingRanges(existing, from, to, s.interval) {
		// CREATE TABLE … PARTITION OF would lock processed_events
		// exclusively, waiting for every query on it and holding up every
		// consumer queued behind; ATTACH PARTITION takes a lock that
		// neither reads nor inserts conflict with.
		name := pgx.Identifier{partitionName(gap.from)}.Sanitize()
		for _, sql := range []string{
			`CREATE TABLE ` + name + ` (LIKE processed_events INCLUDING DEFAULTS)`,
			fmt.Sprintf(`ALTER TABLE processed_events ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)`,
				name, quoteTime(gap.from), quoteTime(gap.to)),
		} {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return s.classify(err, "creating partition "+partitionName(gap.from))
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return s.classify(err, "creating partitions")
	}
	return nil
}

// ensureCurrentPartitions makes sure that the partition for now, and the
// ones after it, exist, by the database's clock.
func (s *Store) ensureCurrentPartitions(ctx context.Context) error {
	var now time.Time
	if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		return s.classify(err, "reading the database's clock")
	}
	return s.EnsurePartitions(ctx, now, now.Add(partitionsAhead*s.interval))
}

// missingRanges returns the grid cells of interval that cover [from, to),
// each cut down to the parts no existing partition holds. existing is
// sorted and its partitions do not overlap.
func missingRanges(existing []partition, from, to time.Time, interval time.Duration) []partition {
	var gaps []partition
	for cell := from.UTC().Truncate(interval); cell.Before(to); cell = cell.Add(interval) {
		at, end := cell, cell.Add(interval)
		for _, p := range existing {
			if !p.to.After(at) || !end.After(p.from) {
				continue // no overlap with what is left of the cell
			}
			if p.from.After(at) {
				gaps = append(gaps, partition{from: at, to: p.from})
			}
			at = p.to
		}
		if at.Before(end) {
			gaps = append(gaps, partition{from: at, to: end})
		}
	}
	return gaps
}

// quoteTime is t as a SQL timestamptz literal.
func quoteTime(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + "'"
}

// isMissingPartition reports whether err is PostgreSQL finding no partition
// of processed_events for a row (SQLSTATE 23514, like a CHECK violation, but
// about the schema, not the data).
func isMissingPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == "" &&
		pgErr.TableName == "processed_events"
}

// windowIndexes are the indexes built on a partition once it takes no more
// rows: they serve time windows, in either listing order, and would cost
// every insert if the partition taking rows had them. Each is named by the
// partition's name and the suffix. The suffixes end in id_idx: PostgreSQL
// names a partition's share of the parent's BRIN index on "timestamp"
// <partition>_timestamp_idx, and a window index of that name would be taken
// as built. (The longest name, of the migrated partition's source index,
// is 63 bytes, PostgreSQL's limit.) Their leaves are filled whole
// (closedFillfactor).
var windowIndexes = []struct{ suffix, columns string }{
	{"timestamp_id_idx", `("timestamp", id) INCLUDE (processed_at)`},
	{"topic_timestamp_id_idx", `(topic, "timestamp", id) INCLUDE (processed_at)`},
	{"source_timestamp_id_idx", `(source, "timestamp", id) INCLUDE (processed_at)`},
}

// closePartition vacuums and analyzes a partition whose range is over, so
// that its visibility map lets index-only scans skip the heap, and builds
// its window indexes. Each step is skipped when done before.
func (s *Store) closePartition(ctx context.Context, db dbConn, name string, pace *diskPacer) (built bool, err error) {
	var have []string
	rows, err := db.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1`, name)
	if err == nil {
		have, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return false, err
	}
	var todo []string
	for _, ix := range windowIndexes {
		if !slices.Contains(have, name+"_"+ix.suffix) {
			todo = append(todo, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s %s WITH (fillfactor = %d)`,
				pgx.Identifier{name + "_" + ix.suffix}.Sanitize(), pgx.Identifier{name}.Sanitize(), ix.columns, closedFillfactor))
		}
	}
	if len(todo) == 0 {
		return false, nil
	}
	if err := pace.wait(ctx); err != nil {
		return false, err
	}
	if _, err := db.Exec(ctx, `VACUUM (ANALYZE) `+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, err
	}
	if err := repackListingIndexes(ctx, db, name); err != nil {
		return false, err
	}
	for _, sql := range todo {
		if _, err := db.Exec(ctx, sql); err != nil {
			return false, err
		}
	}
	return true, nil
}

// closedFillfactor is how full the leaves of a closed partition's indexes
// are built: whole, where B-trees leave a tenth free by default for the
// inserts that a closed partition no longer takes.
const closedFillfactor = 100

// repackedListingIndexes are the parent indexes whose share in a partition
// is rebuilt when it closes. Those whose keys begin with a topic or a
// source grow half empty: every insert goes to the end of its topic's
// (source's) range, a full leaf splits in two halves, and the left half
// never takes another key (88 and 104 bytes an event, where rebuilt ones
// take 50 and 59, which retention then frees). (processed_at, id) grows at
// its right edge, nine tenths full; rebuilt, whole.
var repackedListingIndexes = []string{
	"processed_events_processed_at_id_idx",
	"processed_events_topic_processed_at_id_idx",
	"processed_events_source_processed_at_id_idx",
}

// repackListingIndexes rebuilds partition name's share of the
// repackedListingIndexes at closedFillfactor, CONCURRENTLY: reads go on
// meanwhile (a plain REINDEX would lock each index, and every query's
// planning with it). A rebuild cut short leaves an invalid copy, named
// after the index with _ccnew or _ccold and attached to nothing, which is
// dropped first; other invalid indexes are not this pass's to drop.
func repackListingIndexes(ctx context.Context, db dbConn, name string) error {
	rows, err := db.Query(ctx, `
		SELECT x.indexrelid::regclass::text, i.inhrelid IS NULL AS leftover FROM pg_index x
		LEFT JOIN pg_inherits i ON i.inhrelid = x.indexrelid
		JOIN pg_class c ON c.oid = x.indexrelid
		WHERE x.indrelid = $1::regclass AND (i.inhparent = ANY($2::regclass[])
			OR NOT x.indisvalid AND i.inhrelid IS NULL AND c.relname ~ '_cc(new|old)[0-9]*$')
		ORDER BY 2 DESC, 1`, pgx.Identifier{name}.Sanitize(), repackedListingIndexes)
	if err != nil {
		return err
	}
	type index struct {
		Name     string
		Leftover bool
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		steps := []string{
			fmt.Sprintf(`ALTER INDEX %s SET (fillfactor = %d)`, ix.Name, closedFillfactor),
			`REINDEX INDEX CONCURRENTLY ` + ix.Name,
		}
		if ix.Leftover {
			steps = []string{`DROP INDEX CONCURRENTLY IF EXISTS ` + ix.Name}
		}
		for _, sql := range steps {
			if _, err := db.Exec(ctx, sql); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropPartition detaches a partition without blocking inserts or reads of
// the others (DETACH … CONCURRENTLY waits for the transactions that may
// use it) and drops it. A detach that an earlier pass began and could not
// finish is finished first.
//
// The files are freed in two steps: freeing a file stalls the fsyncs
// of everything else on its volume while the file system discards its
// blocks (on this project's test machine, an ext4 volume mounted with
// discard, about 0.3 ms per MB), and every consume transaction commits
// with an fsync. So the detached partition's indexes are dropped, then its
// table (about half of its bytes each; a step per index cost a transaction
// each for nothing), and pace rests the disk after each step as long as
// the step took: the pass holds it at most half the time.
func (s *Store) dropPartition(ctx context.Context, db dbConn, name string, pace *diskPacer) error {
	table := pgx.Identifier{name}.Sanitize()
	var pending bool
	err := db.QueryRow(ctx, `
		SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`, name).Scan(&pending)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Detached already: only the drop is left.
	case err != nil:
		return err
	case pending:
		if _, err := db.Exec(ctx, `ALTER TABLE processed_events DETACH PARTITION `+table+` FINALIZE`); err != nil {
			return err
		}
	default:
		if _, err := db.Exec(ctx, `ALTER TABLE processed_events DETACH PARTITION `+table+` CONCURRENTLY`); err != nil {
			return err
		}
	}
	rows, err := db.Query(ctx, `
		SELECT i.indexrelid::regclass::text FROM pg_index i
		WHERE i.indrelid = to_regclass($1)
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		ORDER BY 1`, table)
	if err != nil {
		return err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(indexes) > 0 {
		if err := pace.step(ctx, db, `DROP INDEX IF EXISTS `+strings.Join(indexes, ", ")); err != nil {
			return err
		}
	}
	return pace.step(ctx, db, `DROP TABLE IF EXISTS `+table)
}
