package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd count", []float64{3, 1, 2}, 2},
		{"even count takes the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"unsorted with repeats", []float64{5, 5, 1, 9, 5}, 5},
		{"NaN left out", []float64{nan, 10, 30}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tc.in...)
			require.Equal(t, tc.want, median(in))
			require.Equal(t, len(tc.in), len(in))
			for i := range in {
				if !math.IsNaN(tc.in[i]) {
					require.Equal(t, tc.in[i], in[i], "the input is not reordered")
				}
			}
		})
	}
	require.True(t, math.IsNaN(median(nil)))
	require.True(t, math.IsNaN(median([]float64{nan})))
}

func TestMaximumAndRatio(t *testing.T) {
	t.Parallel()
	require.Equal(t, 9.0, maximum([]float64{math.NaN(), 3, 9, 1}))
	require.True(t, math.IsNaN(maximum(nil)))
	require.Equal(t, 25.0, ratio(100, 4))
	require.True(t, math.IsNaN(ratio(1, 0)))
	require.True(t, math.IsNaN(ratio(1, math.NaN())))
	require.True(t, math.IsNaN(ratio(math.NaN(), 2)))
}
