package store

import (
	"context"
	"time"
)

// AddPublished adds n to the count of events that publishers queued (the
// cloud path, where no local queue counts them), on one counter shard.
func (s *Store) AddPublished(ctx context.Context, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO published_counts AS p (shard, published) VALUES ($1, $2)
		ON CONFLICT (shard) DO UPDATE SET published = p.published + excluded.published`,
		s.shard(), n)
	if err != nil {
		return s.classify(err, "counting published events")
	}
	return nil
}

// Published returns how many events AddPublished has counted in all. It
// implements queue.Counter.
func (s *Store) Published(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(published), 0)::bigint FROM published_counts`).Scan(&n)
	if err != nil {
		return 0, s.classify(err, "reading the published count")
	}
	return n, nil
}

// PruneLedger forgets the consumed messages recorded before olderThan and
// returns how many it forgot. The ledger holds the messages that carried a
// duplicate or were dead-lettered (a message whose events were all new is
// known by its stored rows, for good). Such a message redelivered after its
// entry is gone is consumed again: its events are still stored once, but
// they count as received duplicates a second time. olderThan must therefore
// lie further back than the longest time the queue may take to redeliver a
// message.
func (s *Store) PruneLedger(ctx context.Context, olderThan time.Time) (int64, error) {
	return s.deleteOlder(ctx, s.pool, "consumed_messages", "consumed_at", olderThan)
}
