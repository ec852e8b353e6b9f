package loadgen

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (p in percent, 0–100, e.g. 99.9) of
// ds by the nearest-rank method: the smallest value that at least p% of the
// values are less than or equal to. It returns 0 for no values and leaves ds
// unchanged.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
