package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

func TestConsumeDeduplicates(t *testing.T) {
	t.Parallel()

	same := ev("user.login", "evt-1", `{"user":"ana"}`)
	repeat := func(n int, e event.Event) []event.Event {
		out := make([]event.Event, n)
		for i := range out {
			out[i] = e
		}
		return out
	}
	separately := func(n int, e event.Event) [][]event.Record {
		batches := make([][]event.Record, n)
		for i := range batches {
			batches[i] = []event.Record{rec(fmt.Sprintf("m%d", i), e)}
		}
		return batches
	}
	mixed := func() []event.Event {
		var events []event.Event
		for i := range 35 {
			events = append(events, ev("t", fmt.Sprintf("e%d", i), fmt.Sprintf(`{"n":%d}`, i)))
		}
		for i := range 15 {
			events = append(events, events[i*2])
		}
		return events
	}

	tests := []struct {
		name    string
		batches [][]event.Record
		want    event.Stats
	}{
		{
			name:    "same event in two batches",
			batches: separately(2, same),
			want:    event.Stats{Received: 2, UniqueProcessed: 1, DuplicateDropped: 1, Topics: 1},
		},
		{
			name:    "same event in five batches",
			batches: separately(5, same),
			want:    event.Stats{Received: 5, UniqueProcessed: 1, DuplicateDropped: 4, Topics: 1},
		},
		{
			name:    "same event_id in two topics is two events",
			batches: [][]event.Record{{rec("m1", ev("a", "evt-1", `{}`), ev("b", "evt-1", `{}`))}},
			want:    event.Stats{Received: 2, UniqueProcessed: 2, Topics: 2},
		},
		{
			name:    "five identical events in one message",
			batches: [][]event.Record{{rec("m1", repeat(5, same)...)}},
			want:    event.Stats{Received: 5, UniqueProcessed: 1, DuplicateDropped: 4, Topics: 1},
		},
		{
			name: "five identical events in five messages of one batch",
			batches: [][]event.Record{{
				rec("m1", same), rec("m2", same), rec("m3", same), rec("m4", same), rec("m5", same),
			}},
			want: event.Stats{Received: 5, UniqueProcessed: 1, DuplicateDropped: 4, Topics: 1},
		},
		{
			name:    "35 unique and 15 duplicates in one batch",
			batches: [][]event.Record{{rec("m1", mixed()...)}},
			want:    event.Stats{Received: 50, UniqueProcessed: 35, DuplicateDropped: 15, Topics: 1},
		},
		{
			name: "differing payload is a conflict",
			batches: [][]event.Record{
				{rec("m1", ev("t", "e", `{"a":1}`))},
				{rec("m2", ev("t", "e", `{"a":2}`))},
			},
			want: event.Stats{Received: 2, UniqueProcessed: 1, DuplicateDropped: 1, PayloadConflicts: 1, Topics: 1},
		},
		{
			name: "differing payload inside one batch is a conflict",
			batches: [][]event.Record{
				{rec("m1", ev("t", "e", `{"a":1}`), ev("t", "e", `{"a":2}`))},
			},
			want: event.Stats{Received: 2, UniqueProcessed: 1, DuplicateDropped: 1, PayloadConflicts: 1, Topics: 1},
		},
		{
			name: "key order and whitespace are no conflict",
			batches: [][]event.Record{
				{rec("m1", ev("t", "e", `{"a":1,"b":[1,2],"c":{"x":"y","z":null}}`))},
				{rec("m2", ev("t", "e", "{ \"c\": {\"z\": null, \"x\": \"y\"},\n \"b\": [1, 2], \"a\": 1 }"))},
			},
			want: event.Stats{Received: 2, UniqueProcessed: 1, DuplicateDropped: 1, Topics: 1},
		},
		{
			name: "dead-lettered messages count their events, not as received",
			batches: [][]event.Record{{
				{MessageID: "m1", Body: []byte(`[{"topic":`), DeadReason: "body is not JSON", DeadCount: 3},
				{MessageID: "m2", Body: []byte(`{}`), DeadReason: "event is invalid"},
				rec("m3", same),
			}},
			want: event.Stats{Received: 1, UniqueProcessed: 1, DeadLettered: 4, Topics: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newStore(t)

			var total event.BatchResult
			for _, batch := range tt.batches {
				res, err := s.Consume(ctx, batch)
				require.NoError(t, err)
				require.Equal(t, res.Received, res.Unique+res.Duplicates)
				total = sum(total, res)
			}
			require.Equal(t, event.BatchResult{
				Received:     int(tt.want.Received),
				Unique:       int(tt.want.UniqueProcessed),
				Duplicates:   int(tt.want.DuplicateDropped),
				Conflicts:    int(tt.want.PayloadConflicts),
				DeadLettered: int(tt.want.DeadLettered),
			}, counts(total))
			requireStats(t, s, tt.want)

			require.Equal(t, tt.want.UniqueProcessed, rowCount(t, s, "processed_events"))
			count, err := s.Count(ctx, "")
			require.NoError(t, err)
			require.Equal(t, tt.want.UniqueProcessed, count)
			require.Equal(t, tt.want.DuplicateDropped, rowCount(t, s, "duplicate_events"))
			require.Equal(t, tt.want.PayloadConflicts, rowCount(t, s, "duplicate_events WHERE NOT payload_matches"))
		})
	}
}

func TestConsumeStoresEventFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	ts := time.Date(2026, 11, 25, 17, 0, 0, 123456000, time.FixedZone("", 7*3600))
	e := event.Event{Topic: "user.login", EventID: "evt-42", Timestamp: ts, Source: "auth-service", Payload: json.RawMessage(`{"user": "ana"}`)}
	noPayload := event.Event{Topic: "user.login", EventID: "evt-43", Timestamp: ts, Source: "auth-service"}
	_, err := s.Consume(ctx, []event.Record{rec("m1", e, noPayload)})
	require.NoError(t, err)

	got, err := s.Events(ctx, event.Filter{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "evt-43", got[0].EventID)
	require.JSONEq(t, `{}`, string(got[0].Payload))
	stored := got[1]
	require.Equal(t, "user.login", stored.Topic)
	require.Equal(t, "evt-42", stored.EventID)
	require.Equal(t, "auth-service", stored.Source)
	require.True(t, ts.Equal(stored.Timestamp), "stored %v, want %v", stored.Timestamp, ts)
	require.JSONEq(t, `{"user":"ana"}`, string(stored.Payload))
	require.False(t, stored.ProcessedAt.IsZero())
	require.Equal(t, got[1].ProcessedAt, got[0].ProcessedAt, "one transaction")
	require.Less(t, got[1].ID, got[0].ID, "rows of one transaction: the later inserted first")
}

func TestConsumeAuditsDuplicates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	original := ev("t", "e", `{"a":1,"b":2}`)
	reordered := ev("t", "e", `{"b":2, "a":1}`)
	reordered.Source = "replayer"
	changed := ev("t", "e", `{"a":1,"b":3}`)
	changed.Source = "rogue"

	_, err := s.Consume(ctx, []event.Record{rec("m1", original)})
	require.NoError(t, err)
	res, err := s.Consume(ctx, []event.Record{rec("m2", reordered), rec("m3", changed)})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{Received: 2, Duplicates: 2, Conflicts: 1}, counts(res))
	require.Equal(t, []event.Conflict{{Topic: "t", EventID: "e", MessageID: "m3"}}, res.Conflicted)

	type audit struct {
		MessageID, Source string
		Matches           bool
	}
	rows, err := s.pool.Query(ctx, `SELECT message_id, source, payload_matches FROM duplicate_events WHERE topic = 't' AND event_id = 'e' AND dropped_at IS NOT NULL ORDER BY message_id`)
	require.NoError(t, err)
	var audits []audit
	for rows.Next() {
		var a audit
		require.NoError(t, rows.Scan(&a.MessageID, &a.Source, &a.Matches))
		audits = append(audits, a)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []audit{{"m2", "replayer", true}, {"m3", "rogue", false}}, audits)

	// The first payload stays.
	got, err := s.Events(ctx, event.Filter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.JSONEq(t, `{"a":1,"b":2}`, string(got[0].Payload))
	require.Equal(t, "test-source", got[0].Source)
}

func TestConsumeSameEventConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	const consumers = 20
	results := make([]event.BatchResult, consumers)
	errs := make([]error, consumers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range consumers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Consume(ctx, []event.Record{rec(fmt.Sprintf("m%d", i), ev("t", "e", `{"same":true}`))})
		})
	}
	close(start)
	wg.Wait()

	var total event.BatchResult
	for i := range consumers {
		require.NoError(t, errs[i])
		total = sum(total, results[i])
	}
	require.Equal(t, event.BatchResult{Received: 20, Unique: 1, Duplicates: 19}, total)
	require.EqualValues(t, 1, rowCount(t, s, "processed_events"))
	requireStats(t, s, event.Stats{Received: 20, UniqueProcessed: 1, DuplicateDropped: 19, Topics: 1})
}

func TestConsumeRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()

	m := func(id string, events ...event.Event) event.Record { return rec(id, events...) }
	e1, e2, e3, e4 := ev("t", "e1", `{}`), ev("t", "e2", `{}`), ev("u", "e3", `{}`), ev("u", "e4", `{}`)
	dead := event.Record{MessageID: "m9", Body: []byte("garbage"), DeadReason: "body is not JSON"}

	tests := []struct {
		name       string
		first      [][]event.Record
		redelivery []event.Record
		want       event.BatchResult // of the redelivery
	}{
		{
			name:       "one message of a committed batch",
			first:      [][]event.Record{{m("m1", e1), m("m2", e2, e3), m("m3", e1)}},
			redelivery: []event.Record{m("m2", e2, e3)},
			want:       event.BatchResult{AlreadyCommitted: 1},
		},
		{
			name:       "the whole batch again",
			first:      [][]event.Record{{m("m1", e1), m("m2", e2, e3), m("m3", e1)}},
			redelivery: []event.Record{m("m1", e1), m("m2", e2, e3), m("m3", e1)},
			want:       event.BatchResult{AlreadyCommitted: 3},
		},
		{
			name:       "messages of three batches in one bigger batch with a new one",
			first:      [][]event.Record{{m("m1", e1)}, {m("m2", e2)}, {m("m3", e1, e3)}},
			redelivery: []event.Record{m("m3", e1, e3), m("m4", e4, e1), m("m1", e1), m("m2", e2)},
			want:       event.BatchResult{AlreadyCommitted: 3, Received: 2, Unique: 1, Duplicates: 1},
		},
		{
			name:       "a dead-lettered message",
			first:      [][]event.Record{{dead, m("m1", e1)}},
			redelivery: []event.Record{dead},
			want:       event.BatchResult{AlreadyCommitted: 1},
		},
		{
			name:       "a message that stored its event, behind a new copy of that event",
			first:      [][]event.Record{{m("m1", e1)}},
			redelivery: []event.Record{m("m5", e1), m("m1", e1)},
			want:       event.BatchResult{AlreadyCommitted: 1, Received: 1, Duplicates: 1},
		},
		{
			name:       "a message carrying one event twice",
			first:      [][]event.Record{{m("m6", e1, e1)}},
			redelivery: []event.Record{m("m6", e1, e1)},
			want:       event.BatchResult{AlreadyCommitted: 1},
		},
		{
			name:       "a message twice in one batch",
			first:      [][]event.Record{{m("m1", e1), m("m1", e1)}},
			redelivery: []event.Record{m("m1", e1)},
			want:       event.BatchResult{AlreadyCommitted: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newStore(t)
			for _, batch := range tt.first {
				_, err := s.Consume(ctx, batch)
				require.NoError(t, err)
			}
			before, err := s.Stats(ctx)
			require.NoError(t, err)
			topicsBefore, err := s.Topics(ctx, event.TopicFilter{})
			require.NoError(t, err)

			res, err := s.Consume(ctx, tt.redelivery)
			require.NoError(t, err)
			require.Equal(t, tt.want, res)

			after, err := s.Stats(ctx)
			require.NoError(t, err)
			want := before
			want.Received += int64(tt.want.Received)
			want.UniqueProcessed += int64(tt.want.Unique)
			want.DuplicateDropped += int64(tt.want.Duplicates)
			want.DeadLettered += int64(tt.want.DeadLettered)
			require.Equal(t, want, after)
			if tt.want.Received == 0 {
				topicsAfter, err := s.Topics(ctx, event.TopicFilter{})
				require.NoError(t, err)
				require.Equal(t, topicsBefore, topicsAfter)
			}
			require.Equal(t, after.UniqueProcessed, rowCount(t, s, "processed_events"))
		})
	}
}

func TestConsumeDeadLettersPoisonAndCommitsTheRest(t *testing.T) {
	t.Parallel()

	good := func(i int) event.Record {
		return rec(fmt.Sprintf("good-%d", i), ev("t", fmt.Sprintf("e%d", i), `{"ok":true}`))
	}
	stored := ev("t", "stored", `{"v":1}`)
	tests := []struct {
		name   string
		poison event.Record
		reason string // part of the dead letter's reason
	}{
		{
			name:   "lone surrogate in the payload",
			poison: rec("poison", ev("t", "p", `{"a":"\ud800"}`)),
			reason: "json",
		},
		{
			name: "timestamp out of range",
			poison: rec("poison", event.Event{Topic: "t", EventID: "p", Source: "s", Payload: json.RawMessage(`{}`),
				Timestamp: time.Date(-5000, 1, 1, 0, 0, 0, 0, time.UTC)}),
			reason: "out of range",
		},
		{
			name:   "NUL in the topic",
			poison: rec("poison", ev("t\x00", "p", `{}`)),
			reason: "0x00",
		},
		{
			name:   "poison payload on an in-batch duplicate",
			poison: rec("poison", ev("t", "p", `{}`), ev("t", "p", `{"a":"\udc00"}`)),
			reason: "json",
		},
		{
			name:   "poison payload on a duplicate of a stored event",
			poison: rec("poison", ev("t", "stored", `{"a":"\ud800x"}`)),
			reason: "json",
		},
		{
			name:   "a message ID PostgreSQL cannot store",
			poison: rec("poison\xff", ev("t", "p", `{}`)),
			reason: "UTF8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := newStore(t)
			_, err := s.Consume(ctx, []event.Record{rec("setup", stored)})
			require.NoError(t, err)

			batch := []event.Record{good(1), good(2), tt.poison, good(3), good(4), good(5)}
			res, err := s.Consume(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, event.BatchResult{Received: 5, Unique: 5, DeadLettered: len(tt.poison.Events)}, counts(res))
			requireStats(t, s, event.Stats{Received: 6, UniqueProcessed: 6, DeadLettered: int64(len(tt.poison.Events)), Topics: 1})

			letters, err := s.DeadLetters(ctx, 10, 0)
			require.NoError(t, err)
			require.Len(t, letters, 1)
			require.True(t, strings.HasPrefix(letters[0].Reason, "rejected by the database: "), letters[0].Reason)
			require.Contains(t, letters[0].Reason, tt.reason)
			require.Equal(t, string(tt.poison.Body), letters[0].Body)
			require.Equal(t, len(tt.poison.Events), letters[0].Events)
			require.Equal(t, []event.DeadLetter{named(letters[0])}, res.DeadLetters, "the result names the row written")

			// The whole batch again is already committed, the poison included.
			res, err = s.Consume(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, event.BatchResult{AlreadyCommitted: len(batch)}, res)
			requireStats(t, s, event.Stats{Received: 6, UniqueProcessed: 6, DeadLettered: int64(len(tt.poison.Events)), Topics: 1})
			require.EqualValues(t, 1, rowCount(t, s, "dead_letters"))
		})
	}
}

func TestConsumeRequiresMessageID(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	_, err := s.Consume(context.Background(), []event.Record{rec("m1", ev("t", "e", `{}`)), rec("", ev("t", "f", `{}`))})
	require.Equal(t, event.Invalid, event.ErrorCode(err))
	require.Zero(t, rowCount(t, s, "processed_events"))
}

func TestConsumeNothing(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	res, err := s.Consume(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{}, res)
	res, err = s.Consume(context.Background(), []event.Record{{MessageID: "empty"}})
	require.NoError(t, err)
	require.Equal(t, event.BatchResult{}, res)
	requireStats(t, s, event.Stats{})
}

func TestStatsAddUpWhileConsumersCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	const (
		writers   = 4
		batches   = 25
		perBatch  = 20
		distinct  = 300 // event IDs drawn from this many, so writers collide
		topicSpan = 5
	)
	var writing sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, writers)
	for w := range writers {
		writing.Go(func() {
			for b := range batches {
				var events []event.Event
				for i := range perBatch {
					n := (w*7919 + b*perBatch + i*31) % distinct
					events = append(events, ev(fmt.Sprintf("topic-%d", n%topicSpan), fmt.Sprintf("e%d", n), `{}`))
				}
				if _, err := s.Consume(ctx, []event.Record{rec(fmt.Sprintf("w%d-b%d", w, b), events...)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}

	reads := 0
	var reading sync.WaitGroup
	reading.Go(func() {
		for !done.Load() {
			st, err := s.Stats(ctx)
			if !assertNoError(t, err) {
				return
			}
			if st.Received != st.UniqueProcessed+st.DuplicateDropped {
				t.Errorf("received %d != unique %d + duplicates %d", st.Received, st.UniqueProcessed, st.DuplicateDropped)
				return
			}
			reads++
		}
	})
	writing.Wait()
	done.Store(true)
	reading.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, reads)

	st, err := s.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, writers*batches*perBatch, st.Received)
	require.Equal(t, rowCount(t, s, "processed_events"), st.UniqueProcessed)
	require.EqualValues(t, topicSpan, st.Topics)
	var sum int64
	topics, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	for _, tp := range topics {
		n, err := s.Count(ctx, tp.Topic)
		require.NoError(t, err)
		require.Equal(t, tp.Unique, n)
		sum += tp.Unique + tp.Duplicates
	}
	require.Equal(t, st.Received, sum)
}

// assertNoError reports err from a goroutine other than the test's.
func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// BenchmarkConsume commits 500-event batches of which 30% are duplicates
// (half repeats inside the batch, half events of the previous batch), one
// event per queue message, into a fresh database.
func BenchmarkConsume(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			ctx := context.Background()
			s := newStore(b)
			const size, dups = 500, 150
			payload := json.RawMessage(`{"user":"ana","action":"login","ip":"10.0.0.1","attempt":1}`)
			makeBatch := func(w, i int) []event.Record {
				recs := make([]event.Record, 0, size)
				add := func(id string) {
					e := event.Event{Topic: fmt.Sprintf("topic-%d", len(recs)%8), EventID: id, Timestamp: testTime, Source: "bench", Payload: payload}
					recs = append(recs, event.Record{MessageID: fmt.Sprintf("w%d-b%d-m%d", w, i, len(recs)), Events: []event.Event{e}})
				}
				for j := range size - dups {
					add(fmt.Sprintf("w%d-b%d-e%d", w, i, j))
				}
				for j := range dups / 2 {
					add(fmt.Sprintf("w%d-b%d-e%d", w, i, j*2))
				}
				for j := range dups - dups/2 {
					prev := max(i-1, 0)
					add(fmt.Sprintf("w%d-b%d-e%d", w, prev, j*2+1))
				}
				return recs
			}
			n := (b.N + workers - 1) / workers
			batches := make([][][]event.Record, workers)
			for w := range workers {
				for i := range n {
					batches[w] = append(batches[w], makeBatch(w, i))
				}
			}

			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for _, batch := range batches[w] {
						if _, err := s.Consume(ctx, batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(workers*n*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// named is a dead letter as Result.DeadLetters names it: without its body
// and creation time.
func named(d event.DeadLetter) event.DeadLetter {
	return event.DeadLetter{ID: d.ID, MessageID: d.MessageID, Reason: d.Reason, Events: d.Events}
}

func TestConsumeNamesTheFirstConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	var stored, batch []event.Record
	for i := 7; i >= 1; i-- {
		id := fmt.Sprintf("e%d", i)
		stored = append(stored, rec("stored-"+id, ev("t", id, `{"v":1}`)))
		batch = append(batch, rec("changed-"+id, ev("t", id, `{"v":2}`)))
	}
	batch = append(batch, rec("same-e1", ev("t", "e1", `{"v":1}`)), rec("later-e2", ev("t", "e2", `{"v":3}`)))
	_, err := s.Consume(ctx, stored)
	require.NoError(t, err)

	res, err := s.Consume(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, 8, res.Conflicts)
	require.Equal(t, []event.Conflict{
		{Topic: "t", EventID: "e1", MessageID: "changed-e1"},
		{Topic: "t", EventID: "e2", MessageID: "changed-e2"},
		{Topic: "t", EventID: "e2", MessageID: "later-e2"},
		{Topic: "t", EventID: "e3", MessageID: "changed-e3"},
		{Topic: "t", EventID: "e4", MessageID: "changed-e4"},
	}, res.Conflicted, "the first %d in key order; a matching duplicate is no conflict", event.NamedConflicts)
	require.Empty(t, res.DeadLetters)
}

func TestConsumeNamesItsDeadLetters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	res, err := s.Consume(ctx, []event.Record{
		{MessageID: "m1", Body: []byte(`[{"topic":`), DeadReason: "body is not JSON", DeadCount: 3},
		rec("m2", ev("t", "e", `{}`)),
		{MessageID: "m3", Body: []byte(`{}`), DeadReason: "event is invalid"},
	})
	require.NoError(t, err)
	letters, err := s.DeadLetters(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, letters, 2)
	slices.Reverse(letters) // oldest first, as written
	require.Equal(t, []event.DeadLetter{named(letters[0]), named(letters[1])}, res.DeadLetters)
	require.Equal(t, "m1", res.DeadLetters[0].MessageID)
	require.Equal(t, "body is not JSON", res.DeadLetters[0].Reason)
	require.Equal(t, 3, res.DeadLetters[0].Events)
	require.Equal(t, "m3", res.DeadLetters[1].MessageID)
	require.Empty(t, res.Conflicted)
}

func TestSumKeepsTheFirstNamedConflicts(t *testing.T) {
	t.Parallel()
	conflicts := func(ids ...string) []event.Conflict {
		var out []event.Conflict
		for _, id := range ids {
			out = append(out, event.Conflict{Topic: "t", EventID: id, MessageID: "m-" + id})
		}
		return out
	}
	left := event.BatchResult{Conflicts: 4, Conflicted: conflicts("a", "b", "c", "d"), DeadLetters: []event.DeadLetter{{ID: 1}}}
	right := event.BatchResult{Conflicts: 3, Conflicted: conflicts("e", "f", "g"), DeadLetters: []event.DeadLetter{{ID: 2}}}
	total := sum(left, right)
	require.Equal(t, 7, total.Conflicts)
	require.Equal(t, conflicts("a", "b", "c", "d", "e"), total.Conflicted)
	require.Equal(t, []event.DeadLetter{{ID: 1}, {ID: 2}}, total.DeadLetters)
	require.Equal(t, conflicts("a", "b", "c", "d"), left.Conflicted, "the operands are left as they were")
}

// injectDeadlocks makes the first n inserts into processed_events fail as
// deadlocks (SQLSTATE 40P01). It returns how many inserts were tried so
// far: the sequence that counts them is not rolled back with the aborted
// transactions.
func injectDeadlocks(t *testing.T, s *Store, n int) (tries func() int64) {
	t.Helper()
	ctx := context.Background()
	_, err := s.pool.Exec(ctx, fmt.Sprintf(`
		CREATE SEQUENCE insert_tries;
		CREATE FUNCTION inject_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('insert_tries') <= %d THEN
				RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01';
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER inject_deadlock BEFORE INSERT ON processed_events
			FOR EACH STATEMENT EXECUTE FUNCTION inject_deadlock();`, n))
	require.NoError(t, err)
	return func() int64 {
		var tried int64
		require.NoError(t, s.pool.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM insert_tries`).Scan(&tried))
		return tried
	}
}

// A deadlock aborts the transaction and nothing of it stays: the batch is
// run again, and counted once.
func TestConsumeRunsTheBatchAgainAfterADeadlock(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tries := injectDeadlocks(t, s, 2)

	res, err := s.Consume(context.Background(), []event.Record{rec("m1", ev("t", "e1", `{}`))})
	require.NoError(t, err)
	require.Equal(t, 1, res.Unique)
	require.Equal(t, int64(3), tries(), "two deadlocks, then the attempt that committed")
	requireStats(t, s, event.Stats{Received: 1, UniqueProcessed: 1, Topics: 1})
}

// Deadlocks that do not let up make Consume give up after maxAttempts, as
// the database being unavailable, with nothing committed.
func TestConsumeGivesUpAfterMaxAttemptsOfDeadlock(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	tries := injectDeadlocks(t, s, 1000)

	_, err := s.Consume(context.Background(), []event.Record{rec("m1", ev("t", "e1", `{}`))})
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)
	require.ErrorContains(t, err, "injected deadlock")
	require.Equal(t, int64(maxAttempts), tries())
	require.Zero(t, rowCount(t, s, "processed_events"))
	requireStats(t, s, event.Stats{})
}
