package main

import (
	"math"
	"slices"
)

// median returns the middle value of xs, the mean of the two middle ones
// for an even count, and NaN for none. NaNs in xs (figures a run could not
// measure) are left out. xs is not modified.
func median(xs []float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// maximum returns the largest value of xs, NaN for none; NaNs are left out.
func maximum(xs []float64) float64 {
	out := math.NaN()
	for _, x := range xs {
		if !math.IsNaN(x) && (math.IsNaN(out) || x > out) {
			out = x
		}
	}
	return out
}

// ratio returns a/b, or NaN when b is not a positive number.
func ratio(a, b float64) float64 {
	if !(b > 0) || math.IsNaN(a) {
		return math.NaN()
	}
	return a / b
}
