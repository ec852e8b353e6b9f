package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// deadLetter consumes n messages that are dead-lettered, and returns their
// dead letters' IDs, oldest first.
func deadLetter(t *testing.T, s *Store, prefix string, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	recs := make([]event.Record, n)
	for i := range recs {
		recs[i] = event.Record{MessageID: fmt.Sprintf("%s-%d", prefix, i), Body: []byte(fmt.Sprintf("%s body %d", prefix, i)), DeadReason: "not JSON"}
	}
	for chunk := range slices.Chunk(recs, 500) {
		_, err := s.Consume(ctx, chunk)
		require.NoError(t, err)
	}
	var ids []int64
	rows, err := s.pool.Query(ctx, `SELECT id FROM dead_letters WHERE message_id LIKE $1 || '-%' ORDER BY id`, prefix)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, n)
	return ids
}

// recorder is a Republish that records what it was given.
type recorder struct {
	mu      sync.Mutex
	letters []event.DeadLetter
	calls   int
}

func (r *recorder) republish(_ context.Context, letters []event.DeadLetter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.letters = append(r.letters, letters...)
	return nil
}

func (r *recorder) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, len(r.letters))
	for i, d := range r.letters {
		ids[i] = d.ID
	}
	slices.Sort(ids)
	return ids
}

// replayed returns the IDs of the dead letters marked replayed.
func replayed(t *testing.T, s *Store) []int64 {
	t.Helper()
	letters, err := s.DeadLetters(context.Background(), 1000, 0)
	require.NoError(t, err)
	var ids []int64
	for _, d := range letters {
		if d.ReplayedAt != nil {
			require.False(t, d.ReplayedAt.Before(d.CreatedAt))
			ids = append(ids, d.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestReplayDeadLettersByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ids := deadLetter(t, s, "m", 3)

	r := &recorder{}
	n, err := s.ReplayDeadLetters(ctx, event.ReplaySelection{IDs: []int64{ids[2], ids[0], ids[2], 999999}}, r.republish)
	require.NoError(t, err)
	require.Equal(t, 2, n, "unknown and repeated IDs are not counted")
	require.Equal(t, []int64{ids[0], ids[2]}, r.ids())
	require.Equal(t, "m body 0", r.letters[0].Body)
	require.Equal(t, "m-0", r.letters[0].MessageID)
	require.Equal(t, "not JSON", r.letters[0].Reason)
	require.Equal(t, []int64{ids[0], ids[2]}, replayed(t, s))

	// A replayed dead letter is not replayed again.
	r = &recorder{}
	n, err = s.ReplayDeadLetters(ctx, event.ReplaySelection{IDs: ids}, r.republish)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []int64{ids[1]}, r.ids())
	require.Equal(t, ids, replayed(t, s))

	// Replay changes no counter: the replayed messages count when consumed.
	requireStats(t, s, event.Stats{DeadLettered: 3})
}

func TestReplayAllDeadLettersInChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ids := deadLetter(t, s, "m", 2*replayChunk+50)

	r := &recorder{}
	again := 0
	n, err := s.ReplayDeadLetters(ctx, event.ReplaySelection{All: true}, func(ctx context.Context, letters []event.DeadLetter) error {
		// Replayed messages that dead-letter again while the replay runs
		// are not taken by it.
		again++
		_, err := s.Consume(ctx, []event.Record{{MessageID: fmt.Sprintf("again-%d", again), Body: []byte("x"), DeadReason: "not JSON"}})
		require.NoError(t, err)
		return r.republish(ctx, letters)
	})
	require.NoError(t, err)
	require.Equal(t, len(ids), n)
	require.Equal(t, 3, r.calls)
	require.Equal(t, ids, r.ids())
	require.Equal(t, ids, replayed(t, s))

	// The next replay of all takes the ones that arrived since.
	r = &recorder{}
	n, err = s.ReplayDeadLetters(ctx, event.ReplaySelection{All: true}, r.republish)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Len(t, r.ids(), 3)
}

func TestReplayDeadLettersStopsWhenRepublishFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ids := deadLetter(t, s, "m", replayChunk+10)

	down := event.Errorf(event.Unavailable, "queue unavailable")
	calls := 0
	n, err := s.ReplayDeadLetters(ctx, event.ReplaySelection{All: true}, func(context.Context, []event.DeadLetter) error {
		calls++
		if calls == 2 {
			return down
		}
		return nil
	})
	require.ErrorIs(t, err, down)
	require.Equal(t, replayChunk, n, "the first chunk was replayed")
	require.Equal(t, ids[:replayChunk], replayed(t, s), "the failed chunk stays unreplayed")

	r := &recorder{}
	n, err = s.ReplayDeadLetters(ctx, event.ReplaySelection{All: true}, r.republish)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.Equal(t, ids[replayChunk:], r.ids())
}

func TestConcurrentReplaysTakeEachDeadLetterOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	ids := deadLetter(t, s, "m", 3*replayChunk)

	r := &recorder{}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, len(counts))
	for i := range counts {
		wg.Go(func() {
			sel := event.ReplaySelection{All: true}
			if i%2 == 1 {
				sel = event.ReplaySelection{IDs: ids}
			}
			counts[i], errs[i] = s.ReplayDeadLetters(ctx, sel, r.republish)
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, len(ids), counts[0]+counts[1]+counts[2]+counts[3])
	require.Equal(t, ids, r.ids(), "each dead letter republished exactly once")
	require.Equal(t, ids, replayed(t, s))
}

func TestReplayDeadLettersNeedsASelection(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, sel := range []event.ReplaySelection{{}, {IDs: []int64{1}, All: true}} {
		_, err := s.ReplayDeadLetters(context.Background(), sel, func(context.Context, []event.DeadLetter) error {
			return errors.New("not called")
		})
		require.Equal(t, event.Invalid, event.ErrorCode(err))
	}
}

func TestReplayDeadLettersWhenDatabaseIsDown(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.Close()
	_, err := s.ReplayDeadLetters(context.Background(), event.ReplaySelection{All: true}, func(context.Context, []event.DeadLetter) error {
		return errors.New("not called")
	})
	require.Equal(t, event.Unavailable, event.ErrorCode(err))
}
