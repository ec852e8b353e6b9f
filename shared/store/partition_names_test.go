package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// Partitions are named to the minute. With an interval of whole minutes,
// every partition starts on a whole minute, whatever intervals other
// replicas use, so no two share a name; Open refuses any other interval.
func TestPartitionNamesAreUniqueForWholeMinuteIntervals(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), "postgres://127.0.0.1:1/x", Options{PartitionInterval: time.Hour + 30*time.Second})
	require.Equal(t, event.Invalid, event.ErrorCode(err), "%v", err)
	require.ErrorContains(t, err, "whole number of minutes")

	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, other := range []time.Duration{time.Hour, 90 * time.Minute, 7 * time.Minute, 24 * time.Hour} {
		for h := 0; h < 24*7; h++ {
			// A replica of interval 1h made [at, at+1h); one of interval
			// other then ensures its next intervals from there.
			at := day0.Add(time.Duration(h) * time.Hour)
			existing := []partition{{name: partitionName(at), from: at, to: at.Add(time.Hour)}}
			names := map[string]partition{existing[0].name: existing[0]}
			for _, gap := range missingRanges(existing, at, at.Add(3*time.Hour), other) {
				name := partitionName(gap.from)
				prev, dup := names[name]
				require.False(t, dup, "%s names both [%s, %s) and [%s, %s)", name, prev.from, prev.to, gap.from, gap.to)
				names[name] = gap
			}
		}
	}
}
