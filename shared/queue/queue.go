// Package queue declares what logagg needs of a message queue. Redis Streams
// (local), SQS (cloud) and an in-memory queue (tests) implement it, and all
// of them pass the conformance suite in queuetest.
//
// The core is a Publisher and a Consumer. What only some queues or
// consumers can do is declared beside them as an optional capability, a
// small interface that callers look for with a type assertion: Counter and
// Pinger for a queue, Extender and Buffered for a consumer.
package queue

import "context"

// Pinger is a queue that reports whether it can be reached, for /health.
type Pinger interface {
	Ping(ctx context.Context) error
}
