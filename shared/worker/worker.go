// Package worker runs the local consume loop: it reads messages from a
// queue.Consumer, wraps them as an SQS event, calls the consume handler the
// Lambda function uses, and acknowledges what the handler did not report as
// failed. Acknowledging only after the handler returns (after commit) is
// what makes delivery at-least-once; the store's ledger makes it count once.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cenkalti/backoff/v5"

	"github.com/logagg/logagg/shared/faultpoint"
	"github.com/logagg/logagg/shared/queue"
)

// HandleFunc is the consume handler's signature: the Lambda SQS contract.
type HandleFunc func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Worker is one consumer loop.
type Worker struct {
	Consumer queue.Consumer
	Handle   HandleFunc
	// BatchSize is the maxMessages of each Consumer.Receive, which a
	// Splitter part also keeps to in events; default 500.
	BatchSize int
	// Source is the eventSourceARN the SQS-shaped records carry.
	Source string
	Logger *slog.Logger
	// MaxBackoff caps the wait between retries while a dependency is down.
	MaxBackoff time.Duration
	// FinishTimeout bounds how long the batches still to finish may take,
	// all together, once Run's context is cancelled.
	FinishTimeout time.Duration
	// Heartbeat is how often the messages of a batch still in flight are
	// extended, when Consumer is a queue.Extender; set it well under the
	// claim threshold. 0 never extends.
	Heartbeat time.Duration
	// Observer is told of messages the worker found taken over by another
	// consumer when it came to acknowledge them (metrics). It may be nil.
	Observer Observer
}

// Observer is told what the worker found taken over.
type Observer interface {
	ObserveTakenOver(messages int)
}

// Run consumes until ctx is cancelled, then finishes and acknowledges the
// batch in flight and returns nil. A receive that is already waiting is let
// run to its short timeout rather than cut off, so that no message Redis has
// already handed over is left pending for another replica to reclaim.
func (w *Worker) Run(ctx context.Context) error {
	work := context.WithoutCancel(ctx)
	finish, stopFinish := w.finishContext(ctx, work)
	defer stopFinish()
	for ctx.Err() == nil || w.draining() {
		msgs, err := receiveRetrying(ctx, work, w.Consumer, w.batchSize(), w.MaxBackoff, w.logger())
		if err != nil || len(msgs) == 0 {
			continue // err is ctx's: the loop's condition decides
		}
		w.process(lifetimes{stop: ctx, work: work, finish: finish}, msgs)
	}
	return nil
}

// receiveRetrying receives up to limit messages from c under work, retrying
// with backoff until a receive succeeds or stop ends; it then returns
// stop's error. Each call starts the backoff afresh.
func receiveRetrying(stop, work context.Context, c queue.Consumer, limit int, maxBackoff time.Duration, log *slog.Logger) ([]queue.Message, error) {
	return backoff.Retry(stop, func() ([]queue.Message, error) { return c.Receive(work, limit) },
		backoff.WithBackOff(backoffUpTo(maxBackoff)),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, in time.Duration) { log.Warn("receive failed; retrying", "error", err, "in", in) }),
	)
}

// backoffUpTo is the worker's backoff while a dependency is down: 50 ms at
// first, ±50% at random, twice as long each time up to ceiling (default 5 s).
func backoffUpTo(ceiling time.Duration) *backoff.ExponentialBackOff {
	if ceiling <= 0 {
		ceiling = 5 * time.Second
	}
	return &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: ceiling}
}

// draining reports whether a consumer that was told to stop still holds
// messages this worker must process (a Splitter part), so that none is left
// pending for another replica to reclaim.
func (w *Worker) draining() bool {
	b, ok := w.Consumer.(queue.Buffered)
	return ok && b.Pending()
}

// lifetimes are the three contexts a batch lives by.
type lifetimes struct {
	stop   context.Context // cancelled when the worker is told to stop: no more retries
	work   context.Context // never cancelled: the heartbeat runs under it
	finish context.Context // what the handler and the acknowledgement run under: not cancelled by a stop, but bounded after one
}

// process hands msgs to the handler and acknowledges the ones it did not
// report failed; failed ones are retried here, with backoff, until they
// succeed or the worker is told to stop, in which case they stay pending and
// any consumer reclaims them after the idle threshold.
func (w *Worker) process(lt lifetimes, msgs []queue.Message) {
	var held holding
	hb := startHeartbeat(lt.work, w.Consumer, w.Heartbeat, held.ids, w.logger())
	defer hb.stop()
	attempt := func() (struct{}, error) {
		held.set(msgs)
		failed, err := w.handle(lt.finish, msgs)
		if err != nil {
			w.logger().Warn("consume handler failed; retrying the batch", "error", err, "messages", len(msgs))
		}
		done, retry := partition(msgs, failed)
		if len(done) > 0 {
			faultpoint.Hit(faultpoint.WorkerAfterCommit)
			if ackErr := w.ack(lt.finish, done); ackErr != nil {
				// The batch committed; a redelivery will be recognised by
				// the ledger and acknowledged without being counted again.
				w.logger().Warn("acknowledge failed; messages will be redelivered", "error", ackErr)
				return struct{}{}, backoff.Permanent(ackErr)
			}
		}
		msgs = retry
		if len(retry) > 0 {
			return struct{}{}, errFailedItems
		}
		return struct{}{}, nil
	}
	// What still fails when the worker is told to stop stays pending.
	_, _ = backoff.Retry(lt.stop, attempt, backoff.WithBackOff(backoffUpTo(w.MaxBackoff)), backoff.WithMaxElapsedTime(0))
}

// errFailedItems tells the retry in process that messages are left to
// retry; the handler has already said why.
var errFailedItems = errors.New("the consume handler failed messages")

// finishContext is the context batches run under: not cancelled by a stop
// request, but bounded by FinishTimeout once one arrives. It is one
// deadline for every batch still to finish (a Splitter part may hold
// several), so that a stop with the database hung takes FinishTimeout, not
// that for each batch.
func (w *Worker) finishContext(stop, work context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(work)
	timeout := w.FinishTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	unwatch := context.AfterFunc(stop, func() {
		t := time.AfterFunc(timeout, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { unwatch(); cancel() }
}

// handle calls the handler and returns the IDs it reported failed; a
// top-level error fails them all.
func (w *Worker) handle(ctx context.Context, msgs []queue.Message) (map[string]bool, error) {
	resp, err := w.Handle(ctx, w.sqsEvent(msgs))
	if err != nil {
		all := make(map[string]bool, len(msgs))
		for _, m := range msgs {
			all[m.ID] = true
		}
		return all, err
	}
	if len(resp.BatchItemFailures) == 0 {
		return nil, nil
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// ack acknowledges msgs. When the consumer can tell that another consumer
// took some of them over — this process was paused, or cut off, for longer
// than the claim threshold, and woke up a zombie — those are left to that
// consumer, which has committed them or will; the ledger made this
// worker's late work on them count nothing. It is logged and observed.
func (w *Worker) ack(ctx context.Context, msgs []queue.Message) error {
	ids := queue.IDs(msgs)
	owner, ok := w.Consumer.(queue.OwnAcker)
	if !ok {
		return w.Consumer.Ack(ctx, ids)
	}
	lost, err := owner.AckOwn(ctx, ids)
	if err != nil || lost.Messages == 0 {
		return err
	}
	w.logger().Warn("messages taken over by another consumer while this one held them; left to it",
		"messages", len(ids), "taken_over", lost.Messages, "events_taken_over", lost.Events,
		"acknowledged", len(ids)-lost.Messages)
	if w.Observer != nil {
		w.Observer.ObserveTakenOver(lost.Messages)
	}
	return nil
}

// sqsEvent wraps queue messages in the shape the SQS event source delivers.
func (w *Worker) sqsEvent(msgs []queue.Message) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		ev.Records[i] = events.SQSMessage{
			MessageId:      m.ID,
			Body:           string(m.Body),
			EventSource:    "aws:sqs",
			EventSourceARN: w.Source,
			Attributes:     map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.Deliveries)},
		}
	}
	return ev
}

// DefaultBatchSize is BatchSize when it is 0 (BATCH_SIZE).
const DefaultBatchSize = 500

func (w *Worker) batchSize() int {
	if w.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return w.BatchSize
}

func (w *Worker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// partition splits msgs into those the handler did not report failed and
// those it did, each in the order of msgs.
func partition(msgs []queue.Message, failed map[string]bool) (done, retry []queue.Message) {
	if len(failed) == 0 {
		return msgs, nil
	}
	for _, m := range msgs {
		if failed[m.ID] {
			retry = append(retry, m)
		} else {
			done = append(done, m)
		}
	}
	return done, retry
}
