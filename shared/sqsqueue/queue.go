// Package sqsqueue is the queue on Amazon SQS (a standard queue), the cloud
// counterpart of redisqueue. In the cloud the consume function is fed by
// Lambda's SQS event source mapping; Consumer serves the conformance suite
// and any process that polls the queue itself.
//
// SQS does not count what it accepted, so Publish tells an optional
// PublishCounter (the store, in PostgreSQL) how many events SQS took.
package sqsqueue

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/cenkalti/backoff/v5"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Limits of SendMessageBatch.
const (
	MaxBatchEntries = 10         // entries per request
	MaxBatchBytes   = 256 * 1024 // message bodies per request, and one message
)

// API is the part of *sqs.Client the queue uses.
type API interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// PublishCounter records how many events SQS has accepted. *store.Store
// implements it in PostgreSQL, where /stats reads the count back.
type PublishCounter interface {
	AddPublished(ctx context.Context, n int64) error
}

// Options configure a Queue. Zero fields take their defaults.
type Options struct {
	QueueURL string // required
	// MaxBacklog makes Publish refuse with Overloaded when the messages
	// waiting or in flight (SQS's approximate counts) plus the new ones
	// would exceed it; 0 = no limit and no extra request per Publish.
	MaxBacklog int64
	// Counter, when set, is told how many events each Publish queued.
	Counter PublishCounter
	// VisibilityTimeout is how long a received message stays hidden from
	// other consumers (rounded up to whole seconds, as SQS counts them);
	// 0 = the queue's own setting.
	VisibilityTimeout time.Duration
	// Wait is how long Receive waits for a first message (long polling in
	// whole seconds up to 20, then the rest client-side); default 1s.
	Wait time.Duration
	// SendAttempts bounds how often an entry that SQS failed on its own is
	// sent again (default 5). The SDK client retries whole requests itself.
	SendAttempts int
	Logger       *slog.Logger
}

// Queue publishes to one SQS queue and hands out its consumers.
type Queue struct {
	api  API
	opts Options
}

var (
	_ queue.Publisher = (*Queue)(nil)
	_ queue.Pinger    = (*Queue)(nil)
)

// New returns a queue that talks to SQS through api (an *sqs.Client).
func New(api API, opts Options) *Queue {
	if opts.Wait <= 0 {
		opts.Wait = time.Second
	}
	if opts.SendAttempts <= 0 {
		opts.SendAttempts = 5
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{api: api, opts: opts}
}

// Connect builds an SQS client from the environment — region and
// credentials as the AWS SDK finds them (on Lambda, the function's role;
// AWS_ENDPOINT_URL_SQS points it elsewhere) — and returns a queue on it.
func Connect(ctx context.Context, opts Options) (*Queue, error) {
	if opts.QueueURL == "" {
		return nil, event.Errorf(event.Invalid, "QUEUE_URL is empty")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, event.Wrap(event.Invalid, err, "loading the AWS configuration")
	}
	return New(sqs.NewFromConfig(cfg), opts), nil
}

// Publish sends every message, in SendMessageBatch requests of at most 10
// messages and 256 KiB, in order. Entries that SQS fails on their own are
// sent again with backoff. It returns nil once SQS has accepted every
// message. Otherwise some may have been queued (SQS cannot take them back):
// the Counter still counts exactly their events, and a client that
// publishes again only adds duplicates, which the consumers drop. SQS keeps
// neither the events count nor the group of a message: Lambda hands
// batches of messages to the function, which needs neither.
func (q *Queue) Publish(ctx context.Context, msgs []queue.Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		if len(m.Body) > MaxBatchBytes {
			return event.Errorf(event.TooLarge, "message %d is %d bytes, over the SQS limit of %d", i, len(m.Body), MaxBatchBytes)
		}
		bodies[i] = m.Body
	}
	if q.opts.MaxBacklog > 0 {
		n, err := q.Backlog(ctx)
		if err != nil {
			return err
		}
		if n+int64(len(msgs)) > q.opts.MaxBacklog {
			return event.Errorf(event.Overloaded,
				"queue backlog is full (about %d of %d messages waiting); retry later", n, q.opts.MaxBacklog)
		}
	}
	sent, next := 0, 0
	var err error
	for _, chunk := range Chunks(bodies) {
		var n int
		n, err = q.sendChunk(ctx, msgs[next:next+len(chunk)])
		next += len(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	q.count(ctx, sent)
	return err
}

// Chunks splits bodies, in order, into groups that fit one SendMessageBatch
// request: at most MaxBatchEntries bodies of at most MaxBatchBytes in all.
// Every body must itself be at most MaxBatchBytes.
func Chunks(bodies [][]byte) [][][]byte {
	return queue.Chunk(bodies, MaxBatchEntries, MaxBatchBytes)
}

// sendChunk sends one batch, sending failed entries again, and returns how
// many events the messages SQS accepted carry.
func (q *Queue) sendChunk(ctx context.Context, chunk []queue.Outgoing) (int, error) {
	pending := make(map[string]queue.Outgoing, len(chunk))
	for i, m := range chunk {
		pending[strconv.Itoa(i)] = m
	}
	accepted, attempts := 0, 0
	send := func() (struct{}, error) {
		attempts++
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(pending))
		for i := range chunk { // in the original order
			id := strconv.Itoa(i)
			if m, ok := pending[id]; ok {
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(string(m.Body))})
			}
		}
		out, err := q.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.opts.QueueURL), Entries: entries})
		if err != nil {
			return struct{}{}, backoff.Permanent(classify(err, "sending messages"))
		}
		for _, s := range out.Successful {
			if m, ok := pending[aws.ToString(s.Id)]; ok {
				delete(pending, aws.ToString(s.Id))
				accepted += m.EventCount()
			}
		}
		var last types.BatchResultErrorEntry
		for _, f := range out.Failed {
			if f.SenderFault {
				return struct{}{}, backoff.Permanent(event.Errorf(event.Invalid, "SQS refused a message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
			}
			last = f
		}
		if len(pending) == 0 {
			return struct{}{}, nil
		}
		return struct{}{}, event.Errorf(event.Unavailable,
			"SQS did not accept %d messages after %d attempts (%s); retry later", len(pending), attempts, aws.ToString(last.Code))
	}
	_, err := retryBriefly(ctx, q.opts.SendAttempts, send)
	return accepted, err
}

// retryBriefly runs op up to tries times, 50 ms apart at first and twice as
// long each time up to 1 s, until it succeeds or fails for good
// (backoff.Permanent). A context that ends while it waits is Unavailable.
func retryBriefly[T any](ctx context.Context, tries int, op backoff.Operation[T]) (T, error) {
	v, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}),
		backoff.WithMaxTries(uint(tries)),
		backoff.WithMaxElapsedTime(0),
	)
	// Retry hands a failure on the last try back still marked permanent
	// (cenkalti/backoff#177, fixed after v5.0.3).
	if permanent := (*backoff.PermanentError)(nil); errors.As(err, &permanent) {
		err = permanent.Err
	}
	if cause := context.Cause(ctx); err != nil && err == cause {
		err = event.Wrap(event.Unavailable, err, "sending messages to SQS")
	}
	return v, err
}

// count tells the Counter what SQS accepted, trying three times: the
// messages are queued whatever happens here, so a failure is logged, not
// returned.
func (q *Queue) count(ctx context.Context, n int) {
	if q.opts.Counter == nil || n == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	_, err := retryBriefly(ctx, 3, func() (struct{}, error) {
		return struct{}{}, q.opts.Counter.AddPublished(ctx, int64(n))
	})
	if err != nil {
		q.opts.Logger.Error("events queued but not counted; /stats undercounts published", "events", n, "error", err)
	}
}

// Backlog returns SQS's approximate count of messages waiting, in flight
// or delayed. The counts lag the queue by up to a minute or so.
func (q *Queue) Backlog(ctx context.Context) (int64, error) {
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.opts.QueueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, classify(err, "reading the queue's backlog")
	}
	var total int64
	for _, v := range out.Attributes {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, event.Errorf(event.Internal, "SQS answered a message count of %q", v)
		}
		total += n
	}
	return total, nil
}

// Ping reports whether the queue can be reached.
func (q *Queue) Ping(ctx context.Context) error {
	_, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.opts.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return classify(err, "reaching the queue")
	}
	return nil
}
