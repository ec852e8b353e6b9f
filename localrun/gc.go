package main

import "runtime/debug"

// tuneGC trades memory for CPU: the service allocates briefly for every
// request and batch, and on a small machine the collector competes with
// PostgreSQL for the same cores. GOGC and GOMEMLIMIT, when set, win; the
// soft limit keeps the heap well under the 200 MB the service is sized for.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(150 << 20)
	}
}
