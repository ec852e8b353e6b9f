package consume

import (
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The default rate of detail lines: enough to name every conflict and dead
// letter of an ordinary day, too few for a flood of poison to drown the
// other logs.
const (
	DetailLinesPerSecond = 10
	DetailLinesBurst     = 20
)

// processDetails is the limiter of every Handler that brings none: the
// rate holds per process, however many handlers it runs.
var processDetails = NewDetailLimiter(DetailLinesPerSecond, DetailLinesBurst)

// DetailLimiter bounds the log lines that name one payload conflict or one
// dead letter each, and counts the lines it held back so that the next line
// printed can say how many are missing. It is safe for concurrent use.
type DetailLimiter struct {
	limiter *rate.Limiter
	held    atomic.Int64     // lines not printed since the last one that was
	now     func() time.Time // the clock; tests move it by hand
}

// NewDetailLimiter lets perSecond lines through on average, in bursts of at
// most burst.
func NewDetailLimiter(perSecond float64, burst int) *DetailLimiter {
	return &DetailLimiter{limiter: rate.NewLimiter(rate.Limit(perSecond), burst), now: time.Now}
}

// admit reports whether one more line may be printed, and if so how many
// were held back before it.
func (d *DetailLimiter) admit() (ok bool, held int64) {
	if !d.limiter.AllowN(d.now(), 1) {
		d.held.Add(1)
		return false, 0
	}
	return true, d.held.Swap(0)
}

// hold counts n lines that were never offered: conflicts beyond the few a
// batch names.
func (d *DetailLimiter) hold(n int) {
	d.held.Add(int64(n))
}
