package sqsqueue

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// maxLongPoll is the longest wait SQS allows one ReceiveMessage.
const maxLongPoll = 20 * time.Second

// handleLifetime is how long a receipt handle is kept for Ack: past SQS's
// longest visibility timeout (12 hours) the message has certainly been
// received again or deleted.
const handleLifetime = 12 * time.Hour

// Consumer receives from the queue. SQS deletes a message by the receipt
// handle of its latest receive, so a Consumer remembers the handles of what
// it received until it acknowledges them. It is safe for concurrent use.
type Consumer struct {
	q *Queue

	mu      sync.Mutex
	handles map[string]receipt // message ID → latest receipt handle
}

type receipt struct {
	handle string
	at     time.Time
}

var _ queue.Consumer = (*Consumer)(nil)

// Consumer returns a consumer of the queue. SQS has no named consumers; the
// name is kept only for symmetry with the other queues.
func (q *Queue) Consumer(string) *Consumer {
	return &Consumer{q: q, handles: map[string]receipt{}}
}

// Receive returns at most maxMessages messages (SQS hands out at most 10 at
// once). It long-polls SQS for the whole seconds of Options.Wait and waits
// out the rest itself, so an empty queue is not polled in a busy loop.
func (c *Consumer) Receive(ctx context.Context, maxMessages int) ([]queue.Message, error) {
	limit := min(max(maxMessages, 1), MaxBatchEntries)
	wait := min(c.q.opts.Wait, maxLongPoll)
	in := &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(c.q.opts.QueueURL),
		MaxNumberOfMessages:         int32(limit),
		WaitTimeSeconds:             int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	}
	if vt := c.q.opts.VisibilityTimeout; vt > 0 {
		in.VisibilityTimeout = int32((vt + time.Second - 1) / time.Second)
	}
	start := time.Now()
	out, err := c.q.api.ReceiveMessage(ctx, in)
	if err != nil {
		return nil, classify(err, "receiving messages")
	}
	if len(out.Messages) == 0 {
		if rest := wait - time.Since(start); rest > 0 {
			select {
			case <-ctx.Done():
				return nil, event.Wrap(event.Unavailable, ctx.Err(), "receiving messages")
			case <-time.After(rest):
			}
		}
		return nil, nil
	}
	now := time.Now()
	msgs := make([]queue.Message, 0, len(out.Messages))
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, r := range c.handles {
		if now.Sub(r.at) > handleLifetime {
			delete(c.handles, id)
		}
	}
	for _, m := range out.Messages {
		id := aws.ToString(m.MessageId)
		c.handles[id] = receipt{handle: aws.ToString(m.ReceiptHandle), at: now}
		msgs = append(msgs, queue.Message{ID: id, Body: []byte(aws.ToString(m.Body)), Deliveries: receiveCount(m), Events: 1})
	}
	return msgs, nil
}

// receiveCount is the message's ApproximateReceiveCount, this delivery
// included.
func receiveCount(m types.Message) int {
	n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Ack deletes the messages this consumer received, in batches of 10. IDs it
// did not receive, or already acknowledged, are ignored.
func (c *Consumer) Ack(ctx context.Context, ids []string) error {
	c.mu.Lock()
	var entries []types.DeleteMessageBatchRequestEntry
	for _, id := range ids {
		if r, ok := c.handles[id]; ok {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(entries))), ReceiptHandle: aws.String(r.handle),
			})
		}
	}
	c.mu.Unlock()
	for start := 0; start < len(entries); start += MaxBatchEntries {
		batch := entries[start:min(start+MaxBatchEntries, len(entries))]
		out, err := c.q.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
			QueueUrl: aws.String(c.q.opts.QueueURL), Entries: batch,
		})
		if err != nil {
			return classify(err, "deleting messages")
		}
		for _, f := range out.Failed {
			// A handle SQS no longer knows belongs to a message that is
			// gone: it was acknowledged already.
			if aws.ToString(f.Code) != "ReceiptHandleIsInvalid" {
				return event.Errorf(event.Unavailable, "SQS did not delete a message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
			}
		}
	}
	c.mu.Lock()
	for _, id := range ids {
		delete(c.handles, id)
	}
	c.mu.Unlock()
	return nil
}
