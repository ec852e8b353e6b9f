package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

func TestEventsPagesWithCursor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	for b := range 5 {
		var recs []event.Record
		for i := range 50 {
			n := b*50 + i
			recs = append(recs, rec(fmt.Sprintf("m%d", n), ev("t", fmt.Sprintf("e%d", n), `{}`)))
		}
		_, err := s.Consume(ctx, recs)
		require.NoError(t, err)
	}

	seen := map[string]bool{}
	var sizes []int
	var after *event.Position
	var last *event.Position
	for {
		page, err := s.Events(ctx, event.Filter{Limit: 100, After: after})
		require.NoError(t, err)
		require.NotNil(t, page)
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		for _, e := range page {
			if last != nil {
				require.False(t, e.ProcessedAt.After(last.At), "newest processed first")
				require.False(t, e.ProcessedAt.Equal(last.At) && e.ID >= last.ID, "ties by id, descending")
			}
			p := e.Position(event.ByProcessed)
			last = &p
			require.False(t, seen[e.EventID], "%s listed twice", e.EventID)
			seen[e.EventID] = true
		}
		p := page[len(page)-1].Position(event.ByProcessed)
		after = &p
	}
	require.Equal(t, []int{100, 100, 50}, sizes)
	require.Len(t, seen, 250)

	page, err := s.Events(ctx, event.Filter{})
	require.NoError(t, err)
	require.Len(t, page, event.DefaultListLimit)
	require.Equal(t, "e249", page[0].EventID)
}

func TestEventsFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	at := func(topic, id, source string, hour int) event.Event {
		e := ev(topic, id, `{}`)
		e.Source = source
		e.Timestamp = time.Date(2026, 11, 25, hour, 0, 0, 0, time.UTC)
		return e
	}
	// One batch each, so that they are processed in this order.
	for _, e := range []event.Event{
		at("login", "a", "auth", 8),
		at("login", "b", "web", 9),
		at("logout", "c", "auth", 10),
		at("logout", "d", "web", 11),
		at("login", "e", "auth", 12),
	} {
		_, err := s.Consume(ctx, []event.Record{rec("m-"+e.EventID, e)})
		require.NoError(t, err)
	}

	hour := func(h int) *time.Time {
		t := time.Date(2026, 11, 25, h, 0, 0, 0, time.FixedZone("", 0))
		return &t
	}
	tests := []struct {
		name   string
		filter event.Filter
		want   []string // newest processed first
	}{
		{name: "none", filter: event.Filter{}, want: []string{"e", "d", "c", "b", "a"}},
		{name: "topic", filter: event.Filter{Topic: "login"}, want: []string{"e", "b", "a"}},
		{name: "source", filter: event.Filter{Source: "web"}, want: []string{"d", "b"}},
		{name: "since is inclusive", filter: event.Filter{Since: hour(10)}, want: []string{"e", "d", "c"}},
		{name: "until is exclusive", filter: event.Filter{Until: hour(10)}, want: []string{"b", "a"}},
		{name: "since in another zone", filter: event.Filter{Since: new(time.Date(2026, 11, 25, 18, 0, 0, 0, time.FixedZone("", 7*3600)))}, want: []string{"e", "d"}},
		{name: "all together", filter: event.Filter{Topic: "login", Source: "auth", Since: hour(8), Until: hour(12)}, want: []string{"a"}},
		{name: "limit", filter: event.Filter{Limit: 2}, want: []string{"e", "d"}},
		{name: "unknown topic", filter: event.Filter{Topic: "nope"}, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Events(ctx, tt.filter)
			require.NoError(t, err)
			ids := []string{}
			for _, e := range got {
				ids = append(ids, e.EventID)
			}
			require.Equal(t, tt.want, ids)
		})
	}
}

func TestReadsOfAnEmptyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	events, err := s.Events(ctx, event.Filter{})
	require.NoError(t, err)
	require.NotNil(t, events)
	require.Empty(t, events)
	topics, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	require.NotNil(t, topics)
	require.Empty(t, topics)
	letters, err := s.DeadLetters(ctx, 0, 0)
	require.NoError(t, err)
	require.NotNil(t, letters)
	require.Empty(t, letters)
	count, err := s.Count(ctx, "")
	require.NoError(t, err)
	require.Zero(t, count)
	requireStats(t, s, event.Stats{})
}

func TestTopicsAndCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	start := time.Now().Add(-time.Minute)
	_, err := s.Consume(ctx, []event.Record{rec("m1", ev("b", "1", `{}`), ev("b", "2", `{}`), ev("a", "1", `{}`), ev("b", "1", `{}`))})
	require.NoError(t, err)
	_, err = s.Consume(ctx, []event.Record{rec("m2", ev("c", "1", `{}`), ev("a", "1", `{"x":1}`))})
	require.NoError(t, err)

	topics, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	require.Len(t, topics, 3)
	for _, tp := range topics {
		require.True(t, tp.LastProcessedAt.After(start), "%s last processed at %v", tp.Topic, tp.LastProcessedAt)
	}
	for i := range topics {
		topics[i].LastProcessedAt = time.Time{}
	}
	require.Equal(t, []event.TopicStats{
		{Topic: "a", Unique: 1, Duplicates: 1},
		{Topic: "b", Unique: 2, Duplicates: 1},
		{Topic: "c", Unique: 1},
	}, topics)

	for topic, want := range map[string]int64{"": 4, "a": 1, "b": 2, "c": 1, "nope": 0} {
		got, err := s.Count(ctx, topic)
		require.NoError(t, err)
		require.Equal(t, want, got, "topic %q", topic)
	}
	requireStats(t, s, event.Stats{Received: 6, UniqueProcessed: 4, DuplicateDropped: 2, PayloadConflicts: 1, Topics: 3})
}

func TestTopicsLastProcessedAtMovesOnlyWithNewRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	_, err := s.Consume(ctx, []event.Record{rec("m1", ev("t", "1", `{}`))})
	require.NoError(t, err)
	first, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	// Duplicates on every shard leave it where it was.
	for i := range 2 * defaultShards {
		_, err := s.Consume(ctx, []event.Record{rec(fmt.Sprintf("d%d", i), ev("t", "1", `{}`))})
		require.NoError(t, err)
	}
	again, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	require.Equal(t, first[0].LastProcessedAt, again[0].LastProcessedAt)
	require.EqualValues(t, 2*defaultShards, again[0].Duplicates)

	_, err = s.Consume(ctx, []event.Record{rec("m2", ev("t", "2", `{}`))})
	require.NoError(t, err)
	last, err := s.Topics(ctx, event.TopicFilter{})
	require.NoError(t, err)
	require.True(t, last[0].LastProcessedAt.After(first[0].LastProcessedAt))
}

func TestDeadLettersPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	for i := range 5 {
		_, err := s.Consume(ctx, []event.Record{{
			MessageID:  fmt.Sprintf("m%d", i),
			Body:       []byte(fmt.Sprintf("body %d", i)),
			DeadReason: fmt.Sprintf("reason %d", i),
			DeadCount:  i,
		}})
		require.NoError(t, err)
	}

	var got []event.DeadLetter
	var sizes []int
	var before int64
	for {
		page, err := s.DeadLetters(ctx, 2, before)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		got = append(got, page...)
		before = page[len(page)-1].ID
	}
	require.Equal(t, []int{2, 2, 1}, sizes)
	for i, d := range got {
		n := 4 - i // newest first
		require.Equal(t, fmt.Sprintf("m%d", n), d.MessageID)
		require.Equal(t, fmt.Sprintf("body %d", n), d.Body)
		require.Equal(t, fmt.Sprintf("reason %d", n), d.Reason)
		require.Equal(t, max(n, 1), d.Events)
		require.False(t, d.CreatedAt.IsZero())
		require.Nil(t, d.ReplayedAt)
	}
	requireStats(t, s, event.Stats{DeadLettered: 1 + 1 + 2 + 3 + 4})
}

func TestTopicsPagesByNameAndByRecent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	// One batch each, so that each topic's last activity is later than the
	// one before; the last batch is a duplicate, which moves nothing.
	for _, name := range []string{"app.b", "db.x", "app.a", "app.c"} {
		_, err := s.Consume(ctx, []event.Record{rec("m-"+name, ev(name, "1", `{}`))})
		require.NoError(t, err)
	}
	_, err := s.Consume(ctx, []event.Record{rec("m-again", ev("app.b", "1", `{}`))})
	require.NoError(t, err)

	all := func(f event.TopicFilter) []string {
		var names []string
		for {
			page, err := s.Topics(ctx, f)
			require.NoError(t, err)
			for _, tp := range page {
				names = append(names, tp.Topic)
			}
			if len(page) < f.Limit {
				return names
			}
			last := page[len(page)-1]
			f.After = &last
		}
	}
	require.Equal(t, []string{"app.a", "app.b", "app.c", "db.x"}, all(event.TopicFilter{Limit: 1}))
	require.Equal(t, []string{"app.a", "app.b", "app.c"}, all(event.TopicFilter{Limit: 2, Contains: "app"}))
	require.Equal(t, []string{"app.a", "app.b", "app.c"}, all(event.TopicFilter{Limit: 2, Contains: "APP."}), "ASCII letters in either case")
	require.Equal(t, []string{"app.c", "app.a", "db.x", "app.b"}, all(event.TopicFilter{Order: event.ByRecent, Limit: 1}),
		"most recently active first; a duplicate is no activity")
	require.Equal(t, []string{"app.c", "app.a", "app.b"}, all(event.TopicFilter{Order: event.ByRecent, Limit: 2, Contains: "app."}))
	require.Empty(t, all(event.TopicFilter{Limit: 5, Contains: "nope"}))

	// Topics last active in one transaction share the time: by name among
	// them, and the cursor steps through them one at a time.
	_, err = s.Consume(ctx, []event.Record{rec("m-same", ev("same.z", "1", `{}`), ev("same.x", "1", `{}`), ev("same.y", "1", `{}`))})
	require.NoError(t, err)
	require.Equal(t, []string{"same.x", "same.y", "same.z"}, all(event.TopicFilter{Order: event.ByRecent, Limit: 1, Contains: "same."}))
}

// Concurrent consumers must not make the listing disagree with the
// processed_at it returns: a transaction that started earlier may insert its
// rows after one that started later.
func TestEventsOrderAgreesWithProcessedAtUnderConcurrentLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	const workers, batches, perBatch = 6, 25, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]event.Record, 0, perBatch)
				for i := range perBatch {
					recs = append(recs, rec(fmt.Sprintf("m%d-%d-%d", w, b, i), ev("t", fmt.Sprintf("e%d-%d-%d", w, b, i), `{}`)))
				}
				_, err := s.Consume(ctx, recs)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()

	seen := map[string]bool{}
	var after *event.Position
	var prev *event.StoredEvent
	outOfOrder := 0
	for {
		page, err := s.Events(ctx, event.Filter{Limit: 100, After: after})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		for i := range page {
			e := page[i]
			require.False(t, seen[e.EventID], "%s listed twice", e.EventID)
			seen[e.EventID] = true
			if prev != nil && e.ProcessedAt.After(prev.ProcessedAt) {
				outOfOrder++
			}
			prev = &page[i]
		}
		p := page[len(page)-1].Position(event.ByProcessed)
		after = &p
	}
	require.Len(t, seen, workers*batches*perBatch)
	require.Zero(t, outOfOrder, "pairs listed newest first whose processed_at says otherwise")
}

// In timestamp order the listing follows the events' own time, not the
// order they were processed in, and pages by (timestamp, id) in both
// orders, with a window or without, in one partition or across several.
func TestEventsPagesInBothOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)

	// 60 events in batches of 7, with timestamps that run against the
	// processing order and repeat (ties are broken by id).
	var recs []event.Record
	for i := range 60 {
		e := ev("t", fmt.Sprintf("e%02d", i), `{}`)
		e.Timestamp = time.Date(2026, 1, 1, 0, 59-i/2, 0, 0, time.UTC)
		recs = append(recs, rec(fmt.Sprintf("m%d", i), e))
	}
	for batch := range slices.Chunk(recs, 7) {
		_, err := s.Consume(ctx, batch)
		require.NoError(t, err)
	}
	since := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	until := time.Date(2026, 1, 1, 0, 50, 0, 0, time.UTC)
	for _, f := range []event.Filter{
		{Order: event.ByProcessed},
		{Order: event.ByTimestamp},
		{Order: event.ByProcessed, Since: &since, Until: &until},
		{Order: event.ByTimestamp, Since: &since, Until: &until, Topic: "t"},
	} {
		t.Run(fmt.Sprintf("%s window=%v", f.Order, f.Since != nil), func(t *testing.T) {
			var listed []event.StoredEvent
			f.Limit = 8
			for {
				page, err := s.Events(ctx, f)
				require.NoError(t, err)
				listed = append(listed, page...)
				if len(page) < f.Limit {
					break
				}
				p := page[len(page)-1].Position(f.Order)
				f.After = &p
			}
			want := 60
			if f.Since != nil {
				want = 0
				for _, r := range recs {
					if ts := r.Events[0].Timestamp; !ts.Before(since) && ts.Before(until) {
						want++
					}
				}
			}
			require.Len(t, listed, want)
			require.True(t, slices.IsSortedFunc(listed, func(a, b event.StoredEvent) int {
				pa, pb := a.Position(f.Order), b.Position(f.Order)
				return cmp.Or(pb.At.Compare(pa.At), cmp.Compare(pb.ID, pa.ID))
			}), "newest first by (%s, id)", f.Order)
			if f.Since == nil {
				// e00 and e01 carry the newest timestamp and were processed
				// first; e56 to e59, processed last, the oldest.
				first := map[event.Order][]string{event.ByTimestamp: {"e00", "e01"}, event.ByProcessed: {"e56", "e57", "e58", "e59"}}
				require.Contains(t, first[f.Order], listed[0].EventID)
			}
		})
	}
}
