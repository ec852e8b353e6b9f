package queue

// Chunk splits bodies, in order, into groups of at most maxCount bodies and
// at most maxBytes in all, for transports that limit one call. A single
// body larger than maxBytes forms a group of its own.
func Chunk(bodies [][]byte, maxCount, maxBytes int) [][][]byte {
	var out [][][]byte
	start, size := 0, 0
	for i, b := range bodies {
		if i > start && (i-start == maxCount || size+len(b) > maxBytes) {
			out = append(out, bodies[start:i])
			start, size = i, 0
		}
		size += len(b)
	}
	if start < len(bodies) {
		out = append(out, bodies[start:])
	}
	return out
}
