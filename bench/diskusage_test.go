package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiskUsagePerEvent(t *testing.T) {
	t.Parallel()
	d := diskUsage{Events: 1000, EventsTableBytes: 280_000, EventsIndexBytes: 320_000, KeysTableBytes: 100_000, KeysIndexBytes: 80_000}
	d.fill()
	require.Equal(t, int64(780_000), d.TotalBytes)
	require.Equal(t, num(780), d.BytesPerEvent)
	require.Equal(t, num(380), d.TableBytesPerEvent)
	require.Equal(t, num(400), d.IndexBytesPerEvent)
	require.Equal(t, num(600), d.EventsBytesPerEvent)
	require.Equal(t, num(180), d.KeysBytesPerEvent)

	empty := diskUsage{KeysIndexBytes: 8192}
	empty.fill()
	require.True(t, math.IsNaN(float64(empty.BytesPerEvent)), "no events, no figure per event")
}

func TestCheckSpace(t *testing.T) {
	t.Parallel()
	need := spaceNeeded(20_000_000)
	require.Greater(t, need, int64(15e9), "20 million events need well over 15 GB")
	require.NoError(t, checkSpace("/var/lib/postgresql", need, need, 20_000_000))
	err := checkSpace("/var/lib/postgresql", 4e9, need, 20_000_000)
	require.ErrorIs(t, err, errNoSpace)
	require.ErrorContains(t, err, "preloading 20,000,000 events needs about 20.1 GB on PostgreSQL's data directory /var/lib/postgresql, which has 4.0 GB free")
	require.ErrorContains(t, err, "BENCH_GROWTH_SIZES=")
}
