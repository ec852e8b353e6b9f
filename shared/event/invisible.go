package event

//go:generate go run gen_invisible_names.go

import (
	"fmt"
	"slices"
	"sort"
	"unicode"
)

// invisible holds the characters refused in topic, event_id and source:
// those of Unicode's Bidi_Control and Default_Ignorable_Code_Point
// properties. They show nothing or reorder what is around them, so
// "admin\u200b" or "txt.exe\u202egpj" would pass for another name. The
// payload is prose and keeps them.
var invisible = buildInvisible()

// defaultIgnorable reports whether r has the Default_Ignorable_Code_Point
// property, which Go's unicode package does not have: it is derived, as
// Unicode's DerivedCoreProperties.txt defines it, from properties that
// unicode has.
func defaultIgnorable(r rune) bool {
	if !unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector) {
		return false
	}
	switch {
	case unicode.Is(unicode.White_Space, r),
		0xfff9 <= r && r <= 0xfffb,                          // interlinear annotation characters
		0x13430 <= r && r <= 0x1343f,                        // Egyptian hieroglyph format controls
		unicode.Is(unicode.Prepended_Concatenation_Mark, r): // format characters meant to be seen
		return false
	}
	return true
}

// buildInvisible makes one table of Bidi_Control and
// Default_Ignorable_Code_Point, so that checking a character is one lookup.
// Only the few thousand characters of the tables the two are made of are
// visited.
func buildInvisible() *unicode.RangeTable {
	var runes []rune
	for _, table := range []*unicode.RangeTable{
		unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector, unicode.Bidi_Control,
	} {
		visit(table, func(r rune) {
			if defaultIgnorable(r) || unicode.Is(unicode.Bidi_Control, r) {
				runes = append(runes, r)
			}
		})
	}
	slices.Sort(runes)
	runes = slices.Compact(runes)

	rt := &unicode.RangeTable{}
	for i := 0; i < len(runes); {
		j := i + 1
		for j < len(runes) && runes[j] == runes[j-1]+1 {
			j++
		}
		lo, hi := runes[i], runes[j-1]
		if hi <= 0xffff { // no range of the set straddles U+FFFF, a noncharacter
			rt.R16 = append(rt.R16, unicode.Range16{Lo: uint16(lo), Hi: uint16(hi), Stride: 1})
			if hi <= unicode.MaxLatin1 {
				rt.LatinOffset++
			}
		} else {
			rt.R32 = append(rt.R32, unicode.Range32{Lo: uint32(lo), Hi: uint32(hi), Stride: 1})
		}
		i = j
	}
	return rt
}

// visit calls fn for every character of table, in order.
func visit(table *unicode.RangeTable, fn func(rune)) {
	for _, r := range table.R16 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			fn(c)
		}
	}
	for _, r := range table.R32 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			fn(c)
		}
	}
}

// runeName is one entry of invisibleNames.
type runeName struct {
	r    rune
	name string
}

// describeInvisible spells r for a message: U+202E RIGHT-TO-LEFT OVERRIDE,
// or only the code point for one without a name.
func describeInvisible(r rune) string {
	i := sort.Search(len(invisibleNames), func(i int) bool { return invisibleNames[i].r >= r })
	if i < len(invisibleNames) && invisibleNames[i].r == r {
		return fmt.Sprintf("U+%04X %s", r, invisibleNames[i].name)
	}
	return fmt.Sprintf("U+%04X", r)
}
