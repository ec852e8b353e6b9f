package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// listedRow is what the brute-force listing needs of a stored event.
type listedRow struct {
	id              int64
	topic, source   string
	ts, processedAt time.Time
}

// Every order × filter × window × page size, paged with cursors to the end,
// lists exactly the rows a brute-force sort of the table gives, on a store
// with closed partitions (window indexes), the partition taking rows,
// ties in timestamp and in processed_at, and processing order far from
// timestamp order.
func TestEveryListingMatchesBruteForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	now := dbNow(t, s)
	require.NoError(t, s.EnsurePartitions(ctx, now.Add(-6*day), now))

	rng := rand.New(rand.NewPCG(bruteForceSeed, 12))
	topics, sources := []string{"a", "b", "c"}, []string{"x", "y"}
	n := 0
	var keys [][]event.Key
	for msg := 0; msg < 40; msg++ {
		var evs []event.Event
		var ks []event.Key
		for range 1 + rng.IntN(12) {
			n++
			e := ev(topics[rng.IntN(3)], fmt.Sprintf("e%d", n), `{}`)
			e.Source = sources[rng.IntN(2)]
			// few distinct timestamps: many ties; some far away
			switch rng.IntN(10) {
			case 0:
				e.Timestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(3)) * time.Hour)
			case 1:
				e.Timestamp = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(3)) * time.Hour)
			default:
				e.Timestamp = testTime.Add(time.Duration(rng.IntN(20)) * time.Minute)
			}
			evs = append(evs, e)
			ks = append(ks, e.Key())
		}
		_, err := s.Consume(ctx, []event.Record{rec(fmt.Sprintf("m%d", msg), evs...)})
		require.NoError(t, err)
		keys = append(keys, ks)
	}
	// Move most messages back into earlier partitions, whole transactions
	// at a time (their rows keep one processed_at).
	for _, ks := range keys {
		if age := rng.IntN(5); age > 0 {
			backdate(t, s, time.Duration(age)*day+time.Duration(rng.IntN(3600))*time.Second, ks...)
		}
	}
	_, err := s.Maintain(ctx, Policy{})
	require.NoError(t, err)

	rows, err := s.pool.Query(ctx, `SELECT id, topic, source, "timestamp", processed_at FROM processed_events`)
	require.NoError(t, err)
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (listedRow, error) {
		var x listedRow
		err := r.Scan(&x.id, &x.topic, &x.source, &x.ts, &x.processedAt)
		return x, err
	})
	require.NoError(t, err)
	require.Len(t, all, n)

	// A window longer than twice windowProbe is listed in timestamp order
	// through a floor found in its last windowProbe ("until", "long").
	since, until, longSince := testTime.Add(5*time.Minute), testTime.Add(15*time.Minute), testTime.Add(-3*time.Hour)
	windows := []struct {
		name         string
		since, until *time.Time
	}{{"none", nil, nil}, {"since", &since, nil}, {"until", nil, &until}, {"both", &since, &until}, {"long", &longSince, &until}}
	checked := 0
	for _, order := range []event.Order{event.ByProcessed, event.ByTimestamp} {
		for _, topic := range []string{"", "a"} {
			for _, source := range []string{"", "x"} {
				for _, w := range windows {
					for _, limit := range []int{1, 4, 100} {
						f := event.Filter{Topic: topic, Source: source, Since: w.since, Until: w.until, Order: order, Limit: limit}
						name := fmt.Sprintf("order=%s topic=%q source=%q window=%s limit=%d", order, topic, source, w.name, limit)
						require.Equal(t, reviewExpected(all, f), reviewListed(t, s, f), name)
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d listings of %d events checked", checked, n)
}

func reviewExpected(all []listedRow, f event.Filter) []int64 {
	var keep []listedRow
	for _, r := range all {
		if (f.Topic == "" || r.topic == f.Topic) && (f.Source == "" || r.source == f.Source) &&
			(f.Since == nil || !r.ts.Before(*f.Since)) && (f.Until == nil || r.ts.Before(*f.Until)) {
			keep = append(keep, r)
		}
	}
	at := func(r listedRow) time.Time {
		if f.Order == event.ByTimestamp {
			return r.ts
		}
		return r.processedAt
	}
	slices.SortFunc(keep, func(a, b listedRow) int {
		return cmp.Or(at(b).Compare(at(a)), cmp.Compare(b.id, a.id))
	})
	ids := []int64{}
	for _, r := range keep {
		ids = append(ids, r.id)
	}
	return ids
}

func reviewListed(t *testing.T, s *Store, f event.Filter) []int64 {
	t.Helper()
	ids := []int64{}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000, "paging does not end")
		page, err := s.Events(context.Background(), f)
		require.NoError(t, err)
		for _, e := range page {
			ids = append(ids, e.ID)
		}
		if len(page) < f.Limit {
			return ids
		}
		p := page[len(page)-1].Position(f.Order)
		f.After = &p
	}
}

// bruteForceSeed seeds the brute-force listing's store.
var bruteForceSeed uint64 = 12
