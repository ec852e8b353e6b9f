package queue

import "slices"

// Groups is how many routing groups events are spread over. It is fixed, so
// that publishers and consumers configured differently agree on it: a
// consumer with w workers gives group g to worker g mod w.
const Groups = 16

// GroupOf returns the routing group of the event key (topic, eventID): a
// 32-bit FNV-1a hash of the two, modulo Groups.
func GroupOf(topic, eventID string) uint32 {
	h := fnvString(fnvOffset, topic)
	h *= fnvPrime // a NUL byte (h ^ 0 is h) between the two, so that ("ab","c") and ("a","bc") differ
	return fnvString(h, eventID) % Groups
}

// groupOfBody routes a message that has no event key at hand by its bytes.
func groupOfBody(body []byte) uint32 {
	h := uint32(fnvOffset)
	for _, c := range body {
		h = (h ^ uint32(c)) * fnvPrime
	}
	return h % Groups
}

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func fnvString(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * fnvPrime
	}
	return h
}

// Singles makes one message of each body, each carrying one event, routed
// by the body's bytes.
func Singles(bodies [][]byte) []Outgoing {
	out := make([]Outgoing, len(bodies))
	for i, b := range bodies {
		out[i] = Outgoing{Body: b, Events: 1, Group: groupOfBody(b)}
	}
	return out
}

// Pack puts encoded events into as few messages as it may: events of one
// group together, in the order given, at most maxEvents events and maxBytes
// bytes per message (an event larger than maxBytes goes alone). A message
// of one event has the event as its body, one of several a JSON array of
// them. groups[i] is bodies[i]'s group. With maxEvents 1 (or less), every
// event is a message of its own, in the order given.
func Pack(bodies [][]byte, groups []uint32, maxEvents, maxBytes int) []Outgoing {
	if maxEvents <= 1 {
		out := make([]Outgoing, len(bodies))
		for i, b := range bodies {
			out[i] = Outgoing{Body: b, Events: 1, Group: groups[i]}
		}
		return out
	}
	order := make([]int, len(bodies))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(groups[a]) - int(groups[b]) })

	var out []Outgoing
	start, size := 0, 0 // the message being filled: order[start:i], size bytes as an array
	flush := func(end int) {
		if end > start {
			out = append(out, join(bodies, order[start:end], size, groups[order[start]]))
		}
		start, size = end, 0
	}
	for i, idx := range order {
		n := len(bodies[idx]) + 1 // with its comma or bracket
		if i > start && (groups[idx] != groups[order[start]] || i-start == maxEvents || size+n+1 > maxBytes) {
			flush(i)
		}
		size += n
	}
	flush(len(order))
	return out
}

// join makes one message of the bodies at idx; size is their length as a
// JSON array, less the closing bracket.
func join(bodies [][]byte, idx []int, size int, group uint32) Outgoing {
	if len(idx) == 1 {
		return Outgoing{Body: bodies[idx[0]], Events: 1, Group: group}
	}
	buf := make([]byte, 0, size+1)
	for i, j := range idx {
		if i == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, bodies[j]...)
	}
	return Outgoing{Body: append(buf, ']'), Events: len(idx), Group: group}
}
