// Package consume turns queue messages into committed rows. Its Handler is
// the one consume path: the Lambda function receives SQS events and hands
// them to it, and localrun's workers wrap what they read from the Redis
// Stream as SQS events and call the very same Handler.
package consume

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/logagg/logagg/shared/event"
)

// Store commits one batch of records in one transaction.
type Store interface {
	Consume(ctx context.Context, recs []event.Record) (event.BatchResult, error)
}

// Observer is told what every batch did, and how many lines naming a
// conflict or a dead letter went unprinted (metrics). It may be nil.
type Observer interface {
	ObserveBatch(res event.BatchResult, err error, took time.Duration)
	ObserveSuppressedDetails(lines int)
}

// Handler consumes SQS-shaped batches.
type Handler struct {
	Store Store
	// MaxDeliveries dead-letters a message delivered more often than this
	// (its ApproximateReceiveCount), so a message that crashes its consumer
	// cannot stall the queue for ever. 0 means no limit.
	MaxDeliveries int
	Logger        *slog.Logger
	Observer      Observer
	// Details bounds the lines that name one payload conflict or one dead
	// letter each; nil shares one limiter per process, at
	// DetailLinesPerSecond.
	Details *DetailLimiter
}

// Handle commits the batch and reports the messages to retry. A message that
// can never succeed (not JSON, not a valid event, delivered too often) is
// dead-lettered in the database and is not reported, so it is acknowledged
// and never retried. When the database cannot be reached, every message is
// reported in BatchItemFailures; the error return stays nil so that SQS
// retries exactly those messages. Nothing is counted twice on the retry:
// whatever part of the batch did commit is in the ledger and is skipped.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if len(ev.Records) == 0 {
		return events.SQSEventResponse{}, nil
	}
	recs := make([]event.Record, len(ev.Records))
	for i, m := range ev.Records {
		recs[i] = h.record(m)
	}
	start := time.Now()
	res, err := h.Store.Consume(ctx, recs)
	if h.Observer != nil {
		h.Observer.ObserveBatch(res, err, time.Since(start))
	}
	if err != nil {
		h.logger().Warn("batch not committed; every message will be retried",
			"messages", len(recs), "error", err)
		resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, len(ev.Records))}
		for i, m := range ev.Records {
			resp.BatchItemFailures[i] = events.SQSBatchItemFailure{ItemIdentifier: m.MessageId}
		}
		return resp, nil
	}
	h.logResult(ctx, res)
	return events.SQSEventResponse{}, nil
}

// logResult logs a committed batch's payload conflicts and dead letters: a
// line with the counts, then a line for each one the BatchResult names, as far
// as the detail limiter lets them through. A detail line printed after
// some were held back (by the limiter, or because the batch named only the
// first NamedConflicts conflicts) carries their number as "suppressed".
func (h *Handler) logResult(ctx context.Context, res event.BatchResult) {
	log := h.logger()
	if (res.Conflicts == 0 && res.DeadLettered == 0) || !log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	details := h.Details
	if details == nil {
		details = processDetails
	}
	suppressed := 0
	detail := func(msg string, args ...any) {
		ok, held := details.admit()
		if !ok {
			suppressed++
			return
		}
		if held > 0 {
			args = append(args, "suppressed", held)
		}
		log.WarnContext(ctx, msg, args...)
	}
	if res.Conflicts > 0 {
		log.WarnContext(ctx, "duplicates with a different payload dropped", "payload_conflicts", res.Conflicts)
		for _, c := range res.Conflicted {
			detail("duplicate with a different payload dropped",
				"topic", c.Topic, "event_id", c.EventID, "message_id", c.MessageID)
		}
		unnamed := res.Conflicts - len(res.Conflicted)
		details.hold(unnamed)
		suppressed += unnamed
	}
	if res.DeadLettered > 0 {
		log.WarnContext(ctx, "messages dead-lettered", "messages", len(res.DeadLetters), "events", res.DeadLettered)
		for _, d := range res.DeadLetters {
			detail("message dead-lettered",
				"message_id", d.MessageID, "dead_letter_id", d.ID, "reason", d.Reason, "events", d.Events)
		}
	}
	if suppressed > 0 && h.Observer != nil {
		h.Observer.ObserveSuppressedDetails(suppressed)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// record judges one message: its events, or why it is dead.
func (h *Handler) record(m events.SQSMessage) event.Record {
	rec := event.Record{MessageID: m.MessageId}
	if n := receiveCount(m); h.MaxDeliveries > 0 && n > h.MaxDeliveries {
		rec.Body = []byte(m.Body)
		rec.DeadReason = fmt.Sprintf("delivered %d times, more than the limit of %d", n, h.MaxDeliveries)
		rec.DeadCount = countElements(m.Body)
		return rec
	}
	if m.Body == "" {
		// A stream entry without the body field, or with an empty one.
		rec.DeadReason = "the queue message has no body"
		rec.DeadCount = 1
		return rec
	}
	evs, err := event.DecodeMessage([]byte(m.Body))
	if err != nil {
		rec.Body = []byte(m.Body)
		rec.DeadReason = reason(err)
		rec.DeadCount = countElements(m.Body)
		return rec
	}
	rec.Events = evs
	return rec
}

// reason renders a decoding error with its field details, for the dead
// letter's record. An *event.Error's message is complete: its cause (the
// encoding/json error) is already quoted in it, and Error() would append it
// a second time.
func reason(err error) string {
	e, ok := err.(*event.Error)
	if !ok {
		return err.Error()
	}
	s := e.Message
	for _, d := range e.Details {
		s += fmt.Sprintf("; event %d %s: %s", d.Index, d.Field, d.Message)
	}
	return s
}

// countElements is how many events a dead message stands for: the length of
// a JSON array, else one.
func countElements(body string) int {
	var arr []json.RawMessage
	if json.Unmarshal([]byte(body), &arr) == nil && len(arr) > 0 {
		return len(arr)
	}
	return 1
}

func receiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil {
		return 1
	}
	return n
}
