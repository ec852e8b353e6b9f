package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/faultpoint"
)

// maxAttempts bounds how often retryOnDeadlock runs a transaction that
// PostgreSQL aborted for a deadlock or serialization failure.
const maxAttempts = 5

// Consume commits one batch of queue messages in one transaction, so that
// either all of the batch's effect is visible or none of it is:
//
//  1. A record whose message an earlier call committed (a crash between
//     commit and acknowledgement), whatever that call's batch looked like,
//     is skipped, counted in AlreadyCommitted, and changes no counter. A
//     committed message is known by its events stored under its own
//     message ID, or, for a message that carried a duplicate or was
//     dead-lettered, by its entry in the ledger of consumed messages.
//  2. Records with a DeadReason are dead-lettered.
//  3. The keys of the other records' events are inserted into event_keys
//     with ON CONFLICT DO NOTHING on (topic, event_id), and the events whose
//     keys were new into processed_events; the first occurrence in the batch
//     wins.
//  4. Every event not inserted is a duplicate. Each is audited (who sent it,
//     when, whether its payload matched the stored one); a mismatch is a
//     payload conflict, and its message goes into the ledger.
//  5. The counters are incremented, on one counter shard per call.
//
// The transaction runs at READ COMMITTED. Why that level is enough, and why
// the duplicate audit (4) is a statement of its own after the insert, is
// stated once, in the README: "Guarantees, and how they are kept".
//
// Locks are always taken in the same order — ledger IDs sorted, then event
// keys sorted, then the counter shard, then the topic counters sorted — so
// concurrent consumers wait for one another but do not deadlock; should
// PostgreSQL still report a deadlock or serialization failure, the
// transaction is run again.
//
// When PostgreSQL refuses the data itself (an invalid JSON escape, a value
// out of range, …), the batch is split in halves that are consumed in
// transactions of their own, down to the single record at fault, which is
// dead-lettered with the reason "rejected by the database: …". One bad
// message therefore never blocks the others. A split batch commits in
// parts: should a later part fail, the error is returned and the parts
// already committed are skipped by the ledger when the batch is retried.
//
// Every record needs a MessageID (code Invalid otherwise). A database that
// is out of reach gives code Unavailable: nothing was committed, or what was
// is in the ledger, so the caller retries the batch later.
//
// The work is done in three layers, each named after what it adds:
// splitOnRefusedData, retryOnDeadlock and commitAssumingFresh.
func (s *Store) Consume(ctx context.Context, recs []event.Record) (event.BatchResult, error) {
	for i, r := range recs {
		if r.MessageID == "" {
			return event.BatchResult{}, event.Errorf(event.Invalid, "record %d has no message ID", i)
		}
	}
	if len(recs) == 0 {
		return event.BatchResult{}, nil
	}
	return s.splitOnRefusedData(ctx, recs)
}

// splitOnRefusedData commits recs in one transaction or, when PostgreSQL
// refuses their data, in halves, down to the record at fault, which it
// dead-letters.
func (s *Store) splitOnRefusedData(ctx context.Context, recs []event.Record) (event.BatchResult, error) {
	res, err := s.retryOnDeadlock(ctx, recs)
	if err != nil && isMissingPartition(err) {
		// The partition for now is missing (maintenance has not run for
		// a while): this is no fault of the data. Create it and try again.
		if err := s.ensureCurrentPartitions(ctx); err != nil {
			return event.BatchResult{}, err
		}
		res, err = s.retryOnDeadlock(ctx, recs)
	}
	if err == nil {
		return res, nil
	}
	if failureOf(err) != failData {
		return event.BatchResult{}, s.classify(err, "committing the batch")
	}
	if len(recs) == 1 {
		return s.deadLetterRefused(ctx, recs[0], err)
	}
	mid := len(recs) / 2
	left, err := s.splitOnRefusedData(ctx, recs[:mid])
	if err != nil {
		return event.BatchResult{}, err
	}
	right, err := s.splitOnRefusedData(ctx, recs[mid:])
	if err != nil {
		return event.BatchResult{}, err
	}
	return sum(left, right), nil
}

// deadLetterRefused dead-letters a record whose data PostgreSQL refused, in
// a transaction of its own.
func (s *Store) deadLetterRefused(ctx context.Context, rec event.Record, cause error) (event.BatchResult, error) {
	dead := event.Record{
		MessageID:  rec.MessageID,
		Body:       rec.Body,
		DeadReason: "rejected by the database: " + pgMessage(cause),
		DeadCount:  max(len(rec.Events), 1),
	}
	if rec.DeadReason != "" {
		dead.DeadReason = rec.DeadReason
		dead.DeadCount = rec.DeadCount
	}
	if len(dead.Body) == 0 {
		// Keep what the message carried, so that it can be replayed.
		dead.Body, _ = json.Marshal(rec.Events)
	}
	res, err := s.retryOnDeadlock(ctx, []event.Record{dead})
	if err != nil && failureOf(err) == failData {
		// Only the message ID itself can still be at fault (the reason is
		// cleaned and the body is bytes): store it cleaned as well.
		dead.MessageID = cleanText(dead.MessageID)
		res, err = s.retryOnDeadlock(ctx, []event.Record{dead})
	}
	if err != nil {
		return event.BatchResult{}, s.classify(err, "dead-lettering a rejected message")
	}
	return res, nil
}

// retryOnDeadlock runs commitAssumingFresh again after a deadlock or
// serialization failure, up to maxAttempts times in all. It waits a little
// between attempts, at random, so that the transactions that collided do
// not collide again: up to 10 ms, then 20, 40 and 80.
func (s *Store) retryOnDeadlock(ctx context.Context, recs []event.Record) (event.BatchResult, error) {
	attempt := func() (event.BatchResult, error) {
		res, err := s.commitAssumingFresh(ctx, recs)
		if err != nil && failureOf(err) != failRetry {
			return res, backoff.Permanent(err)
		}
		return res, err
	}
	collisions := &backoff.ExponentialBackOff{
		InitialInterval: 5 * time.Millisecond, RandomizationFactor: 1, Multiplier: 2, MaxInterval: time.Second,
	}
	res, err := backoff.Retry(ctx, attempt, backoff.WithBackOff(collisions), backoff.WithMaxTries(maxAttempts))
	// Retry hands a failure on the last attempt back still marked permanent
	// (cenkalti/backoff#177, fixed after v5.0.3).
	if permanent := (*backoff.PermanentError)(nil); errors.As(err, &permanent) {
		err = permanent.Err
	}
	return res, err
}

// commitAssumingFresh is one attempt at the transaction described at
// Consume, pipelined into two round trips: BEGIN, the dead letters and the
// insert of the keys go together, then the events of the keys that were
// new (with the ids their keys were given: only those events' payloads are
// sent), the ledger, the audit, the counters and COMMIT. It bets that no message of the batch was committed before, which
// holds for all but redeliveries; the ledger statements abort the
// transaction when the bet is lost, and it then asks which messages were
// committed and writes only the others.
func (s *Store) commitAssumingFresh(ctx context.Context, recs []event.Record) (event.BatchResult, error) {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.MessageID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return event.BatchResult{}, err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			rollbackConn(ctx, conn)
		}
	}()

	fresh := make(map[string]bool, len(ids))
	for _, id := range ids {
		fresh[id] = true
	}
	for attempt := 0; ; attempt++ {
		plan := planBatch(recs, maps.Clone(fresh))
		inserted := make(map[event.Key]int64, len(plan.candidates))
		b := &pgx.Batch{}
		b.Queue(beginSQL)
		plan.queueWrites(b, inserted)
		err := conn.SendBatch(ctx, b).Close()
		if err == nil {
			faultpoint.Hit(faultpoint.StoreBetweenRoundTrips)
			b = &pgx.Batch{}
			plan.queueEvents(b, inserted)
			plan.queueCounts(b, inserted, s.shard())
			b.Queue("COMMIT")
			err = conn.SendBatch(ctx, b).Close()
		}
		if err == nil {
			committed = true
			return plan.res, nil
		}
		if !isRedelivery(err) || attempt > 0 {
			return event.BatchResult{}, err
		}
		// Redelivered messages that an earlier batch committed: find
		// them, and write only the others.
		rollbackConn(ctx, conn)
		done, err := s.committedMessages(ctx, conn, ids, recs)
		if err != nil {
			return event.BatchResult{}, err
		}
		for id := range done {
			delete(fresh, id)
		}
	}
}

// committedMessages returns which of the messages an earlier batch
// committed: those in the ledger, and those whose events are stored under
// their own message ID.
func (s *Store) committedMessages(ctx context.Context, conn *pgxpool.Conn, ids []string, recs []event.Record) (map[string]bool, error) {
	var events []pendingEvent
	for _, r := range recs {
		for _, e := range r.Events {
			events = append(events, pendingEvent{Event: e, messageID: r.MessageID})
		}
	}
	ev := newEventRows(events)
	rows, err := conn.Query(ctx, committedMessagesSQL, ids, ev.topics, ev.eventIDs, ev.messageIDs)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		done[id] = true
		return nil
	})
	return done, err
}

// pendingEvent is an event on its way into processed_events.
type pendingEvent struct {
	event.Event
	messageID string
}

// topicDelta is what one transaction adds to one topic's counters.
type topicDelta struct{ unique, duplicates int64 }

// batchPlan is what one transaction writes, worked out in Go from the
// records and from which of their message IDs are new to the ledger.
type batchPlan struct {
	res        event.BatchResult
	dead       deadLetterRows
	candidates []pendingEvent // first occurrence of each key, sorted by key
	duplicates []pendingEvent // later occurrences inside the batch
}

// planBatch sorts out what the fresh records carry. A message ID that
// occurs twice in recs counts once: the later records are already
// committed. The map is consumed.
func planBatch(recs []event.Record, fresh map[string]bool) batchPlan {
	var p batchPlan
	var events []pendingEvent
	for _, r := range recs {
		if !fresh[r.MessageID] {
			p.res.AlreadyCommitted++
			continue
		}
		delete(fresh, r.MessageID)
		if r.DeadReason != "" {
			p.dead.add(r)
			p.res.DeadLettered += max(r.DeadCount, 1)
			continue
		}
		for _, e := range r.Events {
			events = append(events, pendingEvent{Event: e, messageID: r.MessageID})
		}
	}
	// De-duplicate inside the batch (first occurrence wins) and sort by key,
	// so that concurrent inserts take their index locks in one order.
	firsts := make(map[event.Key]bool, len(events))
	for _, e := range events {
		if firsts[e.Key()] {
			p.duplicates = append(p.duplicates, e)
			continue
		}
		firsts[e.Key()] = true
		p.candidates = append(p.candidates, e)
	}
	slices.SortFunc(p.candidates, func(a, b pendingEvent) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), strings.Compare(a.EventID, b.EventID))
	})
	return p
}

// queueWrites adds the dead letters and the insert of the keys to b;
// inserted receives the keys it created, with the id of each one's row.
func (p *batchPlan) queueWrites(b *pgx.Batch, inserted map[event.Key]int64) {
	if len(p.dead.messageIDs) > 0 {
		b.Queue(insertDeadLettersSQL, p.dead.messageIDs, p.dead.bodies, p.dead.reasons, p.dead.events).
			Query(func(rows pgx.Rows) error {
				var d event.DeadLetter
				_, err := pgx.ForEachRow(rows, []any{&d.ID, &d.MessageID, &d.Reason, &d.Events}, func() error {
					p.res.DeadLetters = append(p.res.DeadLetters, d)
					return nil
				})
				return err
			})
	}
	if len(p.candidates) == 0 {
		return
	}
	topics := make([]string, len(p.candidates))
	eventIDs := make([]string, len(p.candidates))
	for i, e := range p.candidates {
		topics[i], eventIDs[i] = e.Topic, e.EventID
	}
	b.Queue(insertKeysSQL, topics, eventIDs).
		Query(func(rows pgx.Rows) error {
			var (
				k  event.Key
				id int64
			)
			_, err := pgx.ForEachRow(rows, []any{&k.Topic, &k.EventID, &id}, func() error {
				inserted[k] = id
				return nil
			})
			return err
		})
}

// queueEvents adds to b the insert of the events whose keys were new, each
// with the id its key was given. Only they cross the network with their
// payloads in this round trip.
func (p *batchPlan) queueEvents(b *pgx.Batch, inserted map[event.Key]int64) {
	if len(inserted) == 0 {
		return
	}
	fresh := make([]pendingEvent, 0, len(inserted))
	ids := make([]int64, 0, len(inserted))
	for _, e := range p.candidates {
		if id, ok := inserted[e.Key()]; ok {
			fresh = append(fresh, e)
			ids = append(ids, id)
		}
	}
	rows := newEventRows(fresh)
	b.Queue(insertEventsSQL, ids, rows.topics, rows.eventIDs, rows.timestamps, rows.sources, rows.payloads, rows.messageIDs)
}

// queueCounts works out the counts from what the insert created and adds
// the duplicate audit and the counter updates to b. Whatever was not
// inserted is a duplicate.
func (p *batchPlan) queueCounts(b *pgx.Batch, inserted map[event.Key]int64, shard int32) {
	res := &p.res
	topics := make(map[string]*topicDelta)
	delta := func(topic string) *topicDelta {
		d := topics[topic]
		if d == nil {
			d = &topicDelta{}
			topics[topic] = d
		}
		return d
	}
	for _, e := range p.candidates {
		if _, ok := inserted[e.Key()]; ok {
			res.Unique++
			delta(e.Topic).unique++
		} else {
			p.duplicates = append(p.duplicates, e)
		}
	}
	for _, e := range p.duplicates {
		delta(e.Topic).duplicates++
	}
	res.Duplicates = len(p.duplicates)
	res.Received = res.Unique + res.Duplicates

	// The ledger: a message that inserted all its events is recognised on
	// redelivery by its rows in processed_events, which carry its ID; only
	// messages with a duplicate, or dead-lettered, need an entry. The
	// ledger insert, and the audit of a duplicate whose stored row is
	// older than this transaction, abort the transaction (LG001) should a
	// message turn out to have been committed before.
	ledger := slices.Clone(p.dead.messageIDs)
	recheck := make([]bool, len(p.duplicates))
	for i, e := range p.duplicates {
		ledger = append(ledger, e.messageID)
		// A duplicate of a row this transaction inserted is no sign of a
		// redelivery, even when both came in one message.
		_, here := inserted[e.Key()]
		recheck[i] = !here
	}
	if len(ledger) > 0 {
		slices.Sort(ledger)
		ledger = slices.Compact(ledger)
		b.Queue(insertLedgerAllNewSQL, ledger, len(ledger))
	}

	// The audit statement also adds to the counter shard, since only it
	// knows how many payloads conflicted.
	if res.Received > 0 || res.DeadLettered > 0 {
		rows := newEventRows(p.duplicates)
		b.Queue(auditAndCountSQL, rows.topics, rows.eventIDs, rows.sources, rows.messageIDs, rows.payloads, recheck,
			shard, res.Received, res.Unique, res.Duplicates, res.DeadLettered, event.NamedConflicts).
			QueryRow(func(row pgx.Row) error {
				var topics, eventIDs, messageIDs []string
				if err := row.Scan(&res.Conflicts, &topics, &eventIDs, &messageIDs); err != nil {
					return err
				}
				for i := range topics {
					res.Conflicted = append(res.Conflicted, event.Conflict{Topic: topics[i], EventID: eventIDs[i], MessageID: messageIDs[i]})
				}
				return nil
			})
	}
	if len(topics) > 0 {
		names := make([]string, 0, len(topics))
		for name := range topics {
			names = append(names, name)
		}
		slices.Sort(names)
		uniques := make([]int64, len(names))
		dups := make([]int64, len(names))
		for i, name := range names {
			uniques[i], dups[i] = topics[name].unique, topics[name].duplicates
		}
		b.Queue(addTopicStatsSQL, names, uniques, dups, shard)
	}
}

// rollbackConn ends the connection's transaction if one is open (ROLLBACK
// outside a transaction only warns). It runs even when ctx is done, so that
// the connection goes back to the pool clean; if it cannot, the connection
// is closed rather than reused.
func rollbackConn(ctx context.Context, conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

// sum adds the results of two parts of a split batch; the conflicts named
// stay within event.NamedConflicts.
func sum(r, o event.BatchResult) event.BatchResult {
	conflicted := append(slices.Clip(r.Conflicted), o.Conflicted...)
	return event.BatchResult{
		Received:         r.Received + o.Received,
		Unique:           r.Unique + o.Unique,
		Duplicates:       r.Duplicates + o.Duplicates,
		Conflicts:        r.Conflicts + o.Conflicts,
		DeadLettered:     r.DeadLettered + o.DeadLettered,
		AlreadyCommitted: r.AlreadyCommitted + o.AlreadyCommitted,
		Conflicted:       conflicted[:min(len(conflicted), event.NamedConflicts)],
		DeadLetters:      append(slices.Clip(r.DeadLetters), o.DeadLetters...),
	}
}

// eventRows are events as column arrays, for unnest.
type eventRows struct {
	topics, eventIDs, sources, payloads, messageIDs []string
	timestamps                                      []time.Time
}

func newEventRows(events []pendingEvent) eventRows {
	r := eventRows{
		topics:     make([]string, len(events)),
		eventIDs:   make([]string, len(events)),
		sources:    make([]string, len(events)),
		payloads:   make([]string, len(events)),
		messageIDs: make([]string, len(events)),
		timestamps: make([]time.Time, len(events)),
	}
	for i, e := range events {
		r.topics[i] = e.Topic
		r.eventIDs[i] = e.EventID
		r.sources[i] = e.Source
		r.payloads[i] = payloadText(e.Payload)
		r.messageIDs[i] = e.messageID
		r.timestamps[i] = e.Timestamp
	}
	return r
}

// payloadText is the payload as PostgreSQL parses it; an absent payload is
// the empty object.
func payloadText(p json.RawMessage) string {
	if len(bytes.TrimSpace(p)) == 0 {
		return "{}"
	}
	return string(p)
}

// deadLetterRows are dead-lettered records as column arrays, for unnest.
type deadLetterRows struct {
	messageIDs, reasons []string
	bodies              [][]byte
	events              []int32
}

func (d *deadLetterRows) add(r event.Record) {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	d.messageIDs = append(d.messageIDs, r.MessageID)
	d.bodies = append(d.bodies, body)
	d.reasons = append(d.reasons, cleanText(r.DeadReason))
	d.events = append(d.events, int32(max(r.DeadCount, 1)))
}

// cleanText makes s storable as PostgreSQL text: valid UTF-8 without NUL.
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// committedMessagesSQL finds the messages of a batch that an earlier batch
// committed: in the ledger, or stored under their own ID (the key leads to
// the row, while the row is kept).
const committedMessagesSQL = `
SELECT message_id FROM consumed_messages WHERE message_id = ANY($1::text[])
UNION
SELECT u.message_id
FROM unnest($2::text[], $3::text[], $4::text[]) AS u (topic, event_id, message_id)
JOIN event_keys k ON k.topic = u.topic AND k.event_id = u.event_id
JOIN processed_events p ON p.processed_at = k.processed_at AND p.id = k.id AND p.message_id = u.message_id`

const insertDeadLettersSQL = `
INSERT INTO dead_letters (message_id, body, reason, events)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::int[])
RETURNING id, message_id, reason, events`

// beginSQL opens the batch transaction; the README's "Guarantees, and how
// they are kept" says why READ COMMITTED is enough.
const beginSQL = "BEGIN ISOLATION LEVEL READ COMMITTED"

// insertLedgerAllNewSQL records message IDs in the ledger and aborts the
// transaction (SQLSTATE LG001) unless every one of them is new.
const insertLedgerAllNewSQL = `
WITH fresh AS (
	INSERT INTO consumed_messages (message_id)
	SELECT unnest($1::text[])
	ON CONFLICT DO NOTHING
	RETURNING 1
)
SELECT logagg_require_new_messages(count(*), $2::bigint) FROM fresh`

// insertKeysSQL inserts the keys of the first occurrence of each key,
// sorted by key, and returns those it created, each with the id its event
// will have: event_keys' primary key decides what is new.
const insertKeysSQL = `
INSERT INTO event_keys (topic, event_id, id)
SELECT u.topic, u.event_id, nextval('processed_events_id_seq')
FROM unnest($1::text[], $2::text[]) AS u (topic, event_id)
ON CONFLICT (topic, event_id) DO NOTHING
RETURNING topic, event_id, id`

// insertEventsSQL inserts the events whose keys insertKeysSQL created, in
// the same transaction: processed_at is the transaction's start in both.
const insertEventsSQL = `
INSERT INTO processed_events (id, topic, event_id, "timestamp", source, payload, message_id)
SELECT u.id, u.topic, u.event_id, u.ts, u.source, u.payload::jsonb, u.message_id
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])
	AS u (id, topic, event_id, ts, source, payload, message_id)`

// auditAndCountSQL audits the dropped duplicates against the stored rows
// (payloads compared as jsonb, so key order and whitespace do not count;
// NULL when retention removed the row and only its key is left),
// adds to one counter shard, and returns the number of payload conflicts
// and the first $12 of them (topics, event IDs and message IDs, in key
// order), for the logs.
// It aborts the transaction (SQLSTATE LG001) when a duplicate marked for the
// check is stored under its own message's ID: that message was committed
// before, and this is a redelivery. Data-modifying WITH clauses run to
// completion whether or not the main query reads them.
const auditAndCountSQL = `
WITH dups AS (
	SELECT d.topic, d.event_id, d.message_id, d.source,
		p.payload = d.payload::jsonb AS payload_matches,
		coalesce(d.recheck AND p.message_id = d.message_id, false) AS redelivered
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
		AS d (topic, event_id, source, message_id, payload, recheck)
	LEFT JOIN event_keys k ON k.topic = d.topic AND k.event_id = d.event_id
	LEFT JOIN processed_events p ON p.processed_at = k.processed_at AND p.id = k.id
), audited AS (
	INSERT INTO duplicate_events (topic, event_id, message_id, source, payload_matches)
	SELECT topic, event_id, message_id, source, payload_matches FROM dups
	RETURNING topic, event_id, message_id, payload_matches
), conflicts AS (
	SELECT count(*) FILTER (WHERE NOT payload_matches) AS n FROM audited
), named AS (
	SELECT topic, event_id, message_id FROM audited WHERE NOT payload_matches
	ORDER BY topic, event_id, message_id
	LIMIT $12::int
), counted AS (
	INSERT INTO stats_shards AS s (shard, received, unique_processed, duplicate_dropped, payload_conflicts, dead_lettered)
	SELECT $7::int, $8::bigint, $9::bigint, $10::bigint, c.n, $11::bigint FROM conflicts c
	ON CONFLICT (shard) DO UPDATE SET
		received          = s.received          + excluded.received,
		unique_processed  = s.unique_processed  + excluded.unique_processed,
		duplicate_dropped = s.duplicate_dropped + excluded.duplicate_dropped,
		payload_conflicts = s.payload_conflicts + excluded.payload_conflicts,
		dead_lettered     = s.dead_lettered     + excluded.dead_lettered
)
SELECT c.n,
	(SELECT array_agg(topic ORDER BY topic, event_id, message_id) FROM named),
	(SELECT array_agg(event_id ORDER BY topic, event_id, message_id) FROM named),
	(SELECT array_agg(message_id ORDER BY topic, event_id, message_id) FROM named)
FROM conflicts c
WHERE logagg_require_new_messages((SELECT count(*) FROM dups WHERE redelivered), 0)`

// addTopicStatsSQL adds to the topics' counters on one shard.
// last_processed_at moves only when the topic got a new row.
const addTopicStatsSQL = `
INSERT INTO topic_stats AS t (topic, shard, unique_count, duplicate_count, last_processed_at)
SELECT u.topic, $4::int, u.unique_count, u.duplicate_count, CASE WHEN u.unique_count > 0 THEN now() END
FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u (topic, unique_count, duplicate_count)
ON CONFLICT (topic, shard) DO UPDATE SET
	unique_count      = t.unique_count    + excluded.unique_count,
	duplicate_count   = t.duplicate_count + excluded.duplicate_count,
	last_processed_at = greatest(t.last_processed_at, excluded.last_processed_at)`
