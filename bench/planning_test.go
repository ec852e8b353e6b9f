package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanningTime(t *testing.T) {
	t.Parallel()
	ms, err := planningTime([]string{
		"Limit  (cost=1.23..4.56 rows=100 width=200)",
		"  ->  Merge Append  (cost=1.23..456.78 rows=20000000 width=200)",
		"Planning Time: 12.345 ms",
	})
	require.NoError(t, err)
	require.Equal(t, 12.345, ms)
	_, err = planningTime([]string{"Seq Scan on x"})
	require.ErrorContains(t, err, "no planning time")
}
