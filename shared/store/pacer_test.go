package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that moves only when told: by a statement's
// duration, by work in between, or by a sleep.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

// takes is a statement that takes d of the fake clock's time.
type takes struct {
	c *fakeClock
	d time.Duration
}

func (s takes) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	s.c.t = s.c.t.Add(s.d)
	return pgconn.CommandTag{}, nil
}

func TestDiskPacerRestsAsLongAsAStepTookLessTheWorkBetween(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := diskPacer{now: c.now, sleep: c.sleep}

	require.NoError(t, p.wait(ctx), "nothing owed yet")
	require.Zero(t, p.rested)
	require.NoError(t, p.step(ctx, takes{c, 300 * time.Millisecond}, "DROP INDEX a"))
	require.Zero(t, p.rested, "a step does not rest after itself")
	c.t = c.t.Add(100 * time.Millisecond) // a detach, say: no files freed
	require.NoError(t, p.step(ctx, takes{c, 2 * time.Second}, "DROP TABLE a"))
	require.Equal(t, 200*time.Millisecond, p.rested, "the rest owed, less the work in between")
	require.NoError(t, p.wait(ctx))
	require.Equal(t, 200*time.Millisecond+maxDropRest, p.rested, "a rest is maxDropRest at most")
	require.NoError(t, p.wait(ctx))
	require.Equal(t, 200*time.Millisecond+maxDropRest, p.rested, "a rest is waited once")
}
