package store

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logagg/logagg/shared/event"
)

// DeadLetters returns dead-lettered messages, newest first: at most limit
// (100 when limit is 0 or less), and only those whose ID is below before
// when before is above 0, so that the last ID of a page asks for the next.
func (s *Store) DeadLetters(ctx context.Context, limit int, before int64) ([]event.DeadLetter, error) {
	limit = pageSize(limit)
	rows, err := s.pool.Query(ctx, listDeadLettersSQL, before, limit)
	if err != nil {
		return nil, s.classify(err, "listing dead letters")
	}
	letters, err := scanDeadLetters(rows, min(limit, event.MaxListLimit))
	if err != nil {
		return nil, s.classify(err, "listing dead letters")
	}
	return letters, nil
}

// replayChunk is how many dead letters one replay transaction takes.
const replayChunk = 100

// ReplayDeadLetters hands the selected dead letters that were not replayed
// yet to republish, a chunk at a time, and marks each chunk replayed
// (replayed_at) once republish has succeeded for it. It returns how many it
// replayed.
//
// Each chunk is one transaction that locks its rows while republish runs
// and skips rows another replay has locked, so concurrent replays never
// take the same dead letter twice. Republishing comes before marking: should
// the commit fail after republish succeeded, the letters stay unreplayed and
// a later replay queues them again, which deduplication absorbs; nothing
// marked replayed was left unqueued. When republish fails, that chunk stays
// unreplayed, the chunks before it stay replayed, and its error is returned
// with the count so far.
//
// A selection with All replays only dead letters that existed when the
// call began, so that messages which dead-letter again after being replayed
// are not replayed in a loop.
func (s *Store) ReplayDeadLetters(ctx context.Context, sel event.ReplaySelection, republish event.Republish) (int, error) {
	if sel.All == (len(sel.IDs) > 0) {
		return 0, event.Errorf(event.Invalid, "select the dead letters to replay by their IDs, or all of them")
	}
	if !sel.All {
		ids := slices.Clone(sel.IDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		total := 0
		for chunk := range slices.Chunk(ids, replayChunk) {
			n, _, err := s.replayOnce(ctx, replayByIDSQL, []any{chunk}, republish)
			total += n
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}

	var upTo int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM dead_letters`).Scan(&upTo); err != nil {
		return 0, s.classify(err, "replaying dead letters")
	}
	total := 0
	for after := int64(0); ; {
		n, last, err := s.replayOnce(ctx, replayRangeSQL, []any{after, upTo, replayChunk}, republish)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
		after = last
	}
}

// replayOnce replays the dead letters query selects, in one transaction,
// and returns how many it replayed and the highest ID among them.
func (s *Store) replayOnce(ctx context.Context, query string, args []any, republish event.Republish) (int, int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return 0, 0, s.classify(err, "replaying dead letters")
	}
	defer rollback(ctx, tx)
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return 0, 0, s.classify(err, "replaying dead letters")
	}
	letters, err := scanDeadLetters(rows, replayChunk)
	if err != nil {
		return 0, 0, s.classify(err, "replaying dead letters")
	}
	if len(letters) == 0 {
		return 0, 0, nil
	}
	if err := republish(ctx, letters); err != nil {
		return 0, 0, err
	}
	ids := make([]int64, len(letters))
	for i, d := range letters {
		ids[i] = d.ID
	}
	if _, err := tx.Exec(ctx, `UPDATE dead_letters SET replayed_at = now() WHERE id = ANY($1)`, ids); err != nil {
		return 0, 0, s.classify(err, "marking dead letters replayed")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, s.classify(err, "marking dead letters replayed")
	}
	return len(letters), slices.Max(ids), nil
}

// rollback ends tx if it is still open. It runs even when ctx is done, so
// that the connection goes back to the pool clean instead of being closed.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx) // ErrTxClosed after a commit; any other failure closes the connection
}

// scanDeadLetters reads rows of deadLetterColumns.
func scanDeadLetters(rows pgx.Rows, capacity int) ([]event.DeadLetter, error) {
	letters := make([]event.DeadLetter, 0, capacity)
	var (
		d    event.DeadLetter
		body []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&d.ID, &d.MessageID, &body, &d.Reason, &d.Events, &d.CreatedAt, &d.ReplayedAt}, func() error {
		d.Body = string(body)
		d.CreatedAt = d.CreatedAt.UTC()
		if d.ReplayedAt != nil {
			r := d.ReplayedAt.UTC()
			d.ReplayedAt = &r
		}
		letters = append(letters, d)
		return nil
	})
	return letters, err
}

const deadLetterColumns = `id, message_id, body, reason, events, created_at, replayed_at`

const listDeadLettersSQL = `
SELECT ` + deadLetterColumns + ` FROM dead_letters
WHERE $1::bigint <= 0 OR id < $1::bigint
ORDER BY id DESC
LIMIT $2`

// Rows another replay holds are skipped: that replay takes them.
const replayByIDSQL = `
SELECT ` + deadLetterColumns + ` FROM dead_letters
WHERE id = ANY($1::bigint[]) AND replayed_at IS NULL
ORDER BY id
FOR UPDATE SKIP LOCKED`

const replayRangeSQL = `
SELECT ` + deadLetterColumns + ` FROM dead_letters
WHERE id > $1::bigint AND id <= $2::bigint AND replayed_at IS NULL
ORDER BY id
LIMIT $3
FOR UPDATE SKIP LOCKED`
