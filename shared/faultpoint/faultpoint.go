// Package faultpoint lets the fault scenarios (faults/) stop a process at a
// named point of its work exactly, where a SIGSTOP sent from outside at a
// guessed moment would be racy. Code marks a point with Hit("name"). In a
// build with the faults tag, the first Hit of the point that the
// environment variable Variable names stops the whole process (SIGSTOP to
// the thread that hit it, which stops before it goes any further), after
// writing Announcement to stderr; the test lets it go on with SIGCONT. In
// every other build Hit does nothing.
package faultpoint

// Variable names the point at which a faults build stops, e.g.
// LOGAGG_FAULTPOINT=store.between-round-trips.
const Variable = "LOGAGG_FAULTPOINT"

// The points that code marks.
const (
	// StoreBetweenRoundTrips is inside the consume transaction, after its
	// first round trip (the inserts) and before its second (the counts and
	// COMMIT): the transaction holds its row locks and is idle.
	StoreBetweenRoundTrips = "store.between-round-trips"
	// WorkerAfterCommit is after a batch committed and before its messages
	// are acknowledged.
	WorkerAfterCommit = "worker.after-commit"
	// QueueAfterFetch is in a fetch from the queue, after the messages
	// were handed to this consumer and before the fetch returns them.
	QueueAfterFetch = "queue.after-fetch"
)

// Announcement is the line a faults build writes to stderr before it
// stops, followed by the point's name.
const Announcement = "faultpoint: stopping at "
