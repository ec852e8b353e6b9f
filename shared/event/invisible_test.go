package event

import (
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"
)

// defaultIgnorableRanges are the Default_Ignorable_Code_Point lines of
// Unicode 15.0's DerivedCoreProperties.txt (4,174 code points; the same as
// in 14.0). Bidi_Control lies inside them.
var defaultIgnorableRanges = [][2]rune{
	{0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x061C, 0x061C}, {0x115F, 0x1160}, {0x17B4, 0x17B5},
	{0x180B, 0x180F}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x206F}, {0x3164, 0x3164},
	{0xFE00, 0xFE0F}, {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0}, {0xFFF0, 0xFFF8}, {0x1BCA0, 0x1BCA3},
	{0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
}

// TestInvisibleIsDefaultIgnorable checks the derivation against Unicode's
// own list, code point by code point.
func TestInvisibleIsDefaultIgnorable(t *testing.T) {
	t.Parallel()
	require.Equal(t, "15.0.0", unicode.Version, "Go's Unicode changed: check defaultIgnorableRanges against the new DerivedCoreProperties.txt, then run go generate")

	want := func(r rune) bool {
		for _, rg := range defaultIgnorableRanges {
			if rg[0] <= r && r <= rg[1] {
				return true
			}
		}
		return false
	}
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		got := unicode.Is(invisible, r)
		require.Equal(t, want(r), got, "U+%04X", r)
		require.Equal(t, want(r), defaultIgnorable(r), "U+%04X", r)
		if got {
			n++
		}
		if unicode.Is(unicode.Bidi_Control, r) {
			require.True(t, got, "Bidi_Control U+%04X", r)
		}
	}
	require.Equal(t, 4174, n)
}

// TestInvisibleNames checks that every assigned character refused has a
// name in the generated table, which is sorted for the binary search.
func TestInvisibleNames(t *testing.T) {
	t.Parallel()
	require.True(t, slices.IsSortedFunc(invisibleNames[:], func(a, b runeName) int { return int(a.r - b.r) }))
	assigned := func(r rune) bool {
		return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
	}
	named := 0
	visit(invisible, func(r rune) {
		d := describeInvisible(r)
		if assigned(r) {
			require.True(t, strings.HasPrefix(d, "U+") && strings.Count(d, " ") >= 1, "U+%04X has no name: run go generate ./shared/event", r)
			named++
		} else {
			require.NotContains(t, d, " ", "U+%04X", r)
		}
	})
	require.Greater(t, named, 400)
	require.Equal(t, "U+202E RIGHT-TO-LEFT OVERRIDE", describeInvisible(0x202E))
	require.Equal(t, "U+E0FFF", describeInvisible(0xE0FFF))
}
