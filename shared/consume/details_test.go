package consume

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a time that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// limiterAt is a DetailLimiter on a clock of the test's own.
func limiterAt(c *clock, perSecond float64, burst int) *DetailLimiter {
	d := NewDetailLimiter(perSecond, burst)
	d.now = c.now
	return d
}

func TestDetailLimiterCountsWhatItHoldsBack(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	d := limiterAt(c, 1, 2)

	for range 2 {
		ok, held := d.admit()
		require.True(t, ok, "within the burst")
		require.Zero(t, held)
	}
	for range 3 {
		ok, _ := d.admit()
		require.False(t, ok, "over the rate")
	}
	c.advance(time.Second)
	ok, held := d.admit()
	require.True(t, ok, "a second later there is room for one more")
	require.EqualValues(t, 3, held, "and it learns how many were held back")

	d.hold(4)
	c.advance(time.Second)
	ok, held = d.admit()
	require.True(t, ok)
	require.EqualValues(t, 4, held, "lines never offered count too")
	c.advance(time.Second)
	_, held = d.admit()
	require.Zero(t, held, "each is reported once")
}
