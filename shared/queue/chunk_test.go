package queue

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChunk(t *testing.T) {
	t.Parallel()
	b := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	sizes := func(groups [][][]byte) [][]int {
		var out [][]int
		for _, g := range groups {
			var s []int
			for _, body := range g {
				s = append(s, len(body))
			}
			out = append(out, s)
		}
		return out
	}
	cases := []struct {
		name   string
		bodies [][]byte
		want   [][]int
	}{
		{"empty", nil, nil},
		{"by count", [][]byte{b(1), b(1), b(1), b(1), b(1)}, [][]int{{1, 1}, {1, 1}, {1}}},
		{"by bytes", [][]byte{b(6), b(5), b(4)}, [][]int{{6}, {5, 4}}},
		{"exactly the byte limit", [][]byte{b(5), b(5)}, [][]int{{5, 5}}},
		{"one body over the limit alone", [][]byte{b(1), b(20), b(1)}, [][]int{{1}, {20}, {1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, sizes(Chunk(tc.bodies, 2, 10)))
		})
	}
}
