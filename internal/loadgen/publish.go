package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/protobuf/proto"
)

// PublishOptions shapes how Publish sends events.
type PublishOptions struct {
	BatchSize   int     // events per request, default 500
	Concurrency int     // parallel requests, default 4
	Rate        float64 // events/s cap, 0 = as fast as possible
	// StampSentAt writes into each event generated with Plan.SentAtField
	// the time its first copy was put in a request (UTC, nanoseconds), in
	// the request body only: the events passed in are not modified.
	StampSentAt bool
	// MaxBatchBytes, when positive, also ends a request before its body
	// would pass this many bytes, so that batches of large events stay under
	// the service's MAX_BODY_BYTES. An event bigger than that on its own
	// still goes, alone.
	MaxBatchBytes int
	// Protocol is how the events are sent: ProtocolJSON (the default) or
	// ProtocolOTLP, which cannot stamp sent_at.
	Protocol Protocol
	// Progress, when set, is called after each accepted request with the
	// number of events accepted so far. Calls never overlap.
	Progress func(sent int)
	// Accepted, when set, is called after each accepted request with the
	// range [first, end) of events it carried. Calls never overlap, and
	// come in order of acceptance, not of the events.
	Accepted func(first, end int)
}

const (
	defaultBatchSize   = 500
	defaultConcurrency = 4

	// Backoff for 429/503 without Retry-After and for network errors.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// maxNetworkRetries bounds retries of one request after network errors,
	// so that an unreachable service fails the run instead of stalling it.
	maxNetworkRetries = 3
)

func (o PublishOptions) withDefaults() PublishOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	o.Rate = max(o.Rate, 0)
	if o.Protocol == "" {
		o.Protocol = ProtocolJSON
	}
	return o
}

// PublishResult describes a Publish call.
type PublishResult struct {
	Sent      int           // events accepted by the service
	Requests  int           // requests accepted, one per batch
	Elapsed   time.Duration // from the call to the last answer
	Latencies []time.Duration
	Retries   int // requests sent again after 429, 503 or a network error
}

// Publish sends every event as {"events":[...]} in requests of
// opt.BatchSize events, opt.Concurrency at a time. A request answered 429 or
// 503 is sent again after its Retry-After (or a growing backoff when there is
// none) until it is accepted or ctx ends; a request that failed on the network
// is sent again a few times. Events may therefore reach the service more than
// once, which logagg's deduplication absorbs. Any other non-2xx answer stops
// the run with a *StatusError naming the status and the service's message.
//
// Latencies has one entry per accepted request: the time of its successful
// attempt. On error the result tells how far the run got.
//
// With ProtocolOTLP each request is instead an OTLP/HTTP protobuf export to
// POST /v1/logs (see toOTLPRecords); the events are converted before the
// clock starts, as generating them is not publishing them.
func (c *Client) Publish(ctx context.Context, events []json.RawMessage, opt PublishOptions) (PublishResult, error) {
	opt = opt.withDefaults()
	var records []otlpRecord
	switch opt.Protocol {
	case ProtocolJSON:
	case ProtocolOTLP:
		if opt.StampSentAt {
			return PublishResult{}, errors.New("publish: sent_at stamping works only with the JSON protocol")
		}
		var err error
		if records, err = toOTLPRecords(events); err != nil {
			return PublishResult{}, fmt.Errorf("publish: converting the events to OTLP: %w", err)
		}
	default:
		return PublishResult{}, fmt.Errorf("publish: unknown protocol %q", opt.Protocol)
	}
	start := time.Now()
	spans := cutBatches(events, opt.BatchSize, opt.MaxBatchBytes)
	batches := len(spans)
	res := PublishResult{Latencies: make([]time.Duration, 0, batches)}
	if batches == 0 {
		return res, nil
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu       sync.Mutex // guards res, firstErr and Progress calls
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	pace := &pacer{start: start, rate: opt.Rate}
	var stamper *sentAtStamper
	if opt.StampSentAt {
		stamper = newSentAtStamper()
	}
	for range min(opt.Concurrency, batches) {
		wg.Go(func() {
			for ctx.Err() == nil {
				b := int(next.Add(1) - 1)
				if b >= batches {
					return
				}
				span := spans[b]
				batch := events[span.first:span.end]
				if pace.wait(ctx, len(batch)) != nil {
					return
				}
				send, err := c.batchSender(batch, records, span.first, stamper)
				var latency time.Duration
				var retries int
				if err == nil {
					latency, retries, err = c.publishBatch(ctx, send)
				}
				mu.Lock()
				res.Retries += retries
				if err != nil {
					if firstErr == nil {
						firstErr = &BatchError{First: span.first, End: span.end, Err: err}
						cancel(err)
					}
					mu.Unlock()
					return
				}
				res.Sent += len(batch)
				res.Requests++
				res.Latencies = append(res.Latencies, latency)
				if opt.Progress != nil {
					opt.Progress(res.Sent)
				}
				if opt.Accepted != nil {
					opt.Accepted(span.first, span.end)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstErr == nil && res.Sent < len(events) {
		firstErr = context.Cause(ctx)
	}
	if firstErr != nil {
		return res, fmt.Errorf("publish stopped after %d of %d events: %w", res.Sent, len(events), firstErr)
	}
	return res, nil
}

// BatchError is the failure of the request that carried events
// [First, End) of a Publish call. The details of a 422 index the events of
// that request, so event First+index is the one concerned.
type BatchError struct {
	First, End int
	Err        error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("the request of events %d to %d: %v", e.First, e.End-1, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// span is the range [first, end) of the events one request carries.
type span struct{ first, end int }

// cutBatches splits events into requests of at most size events and, when
// maxBytes is positive, of bodies of at most maxBytes as encodeBatch writes
// them (an event larger than that goes alone).
func cutBatches(events []json.RawMessage, size, maxBytes int) []span {
	spans := make([]span, 0, (len(events)+size-1)/size)
	first, body := 0, len(batchHead)+len(batchTail)
	for i, e := range events {
		grown := body + len(e)
		if i > first {
			grown++ // the comma
		}
		if i > first && (i-first == size || (maxBytes > 0 && grown > maxBytes)) {
			spans = append(spans, span{first, i})
			first, grown = i, len(batchHead)+len(batchTail)+len(e)
		}
		body = grown
	}
	if first < len(events) {
		spans = append(spans, span{first, len(events)})
	}
	return spans
}

// networkError is a request that got no HTTP answer.
type networkError struct{ err error }

func (e *networkError) Error() string { return e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// batchSender encodes the batch that starts at events[from] once and
// returns what sends it: as JSON, or, when records is not nil, as an OTLP
// export of the same events.
func (c *Client) batchSender(batch []json.RawMessage, records []otlpRecord, from int, stamper *sentAtStamper) (func(context.Context) error, error) {
	if records != nil {
		body, err := proto.Marshal(otlpRequest(records[from : from+len(batch)]))
		if err != nil {
			return nil, fmt.Errorf("encoding an OTLP export: %w", err)
		}
		return func(ctx context.Context) error { return c.postOTLP(ctx, body, len(batch)) }, nil
	}
	body := encodeBatch(batch)
	if stamper != nil {
		stamper.stamp(body, batch, time.Now())
	}
	return func(ctx context.Context) error { return c.postPublish(ctx, body, len(batch)) }, nil
}

// publishBatch calls send until the request is accepted, retrying as
// Publish describes, and returns the latency of the accepted attempt.
func (c *Client) publishBatch(ctx context.Context, send func(context.Context) error) (latency time.Duration, retries int, err error) {
	networkFailures := 0
	var last error // the failure a retry waits after
	attempt := func() (time.Duration, error) {
		began := time.Now()
		err := send(ctx)
		if err == nil {
			return time.Since(began), nil
		}
		last = err
		var se *StatusError
		var ne *networkError
		switch {
		case errors.As(err, &se) && se.Temporary():
			if se.RetryAfter > 0 {
				return 0, &backoff.RetryAfterError{Duration: se.RetryAfter}
			}
			return 0, err
		case ctx.Err() != nil:
			return 0, backoff.Permanent(err)
		case errors.As(err, &ne) && networkFailures < maxNetworkRetries:
			networkFailures++
			return 0, err
		default:
			return 0, backoff.Permanent(err)
		}
	}
	latency, err = backoff.Retry(ctx, attempt,
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval: minBackoff, Multiplier: 2, MaxInterval: maxBackoff,
		}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(error, time.Duration) { retries++ }),
	)
	if cause := context.Cause(ctx); err != nil && err == cause && last != nil {
		// Retry answers with the context's cause alone; say what it was
		// waiting out.
		err = fmt.Errorf("%w (while waiting to retry after: %v)", cause, last)
	}
	return latency, retries, err
}

// post sends body of contentType to path and returns a 2xx answer's body;
// any other answer is a *StatusError, no answer a *networkError.
func (c *Client) post(ctx context.Context, path, contentType string, body []byte) ([]byte, error) {
	req, err := c.newRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", contentType)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, &networkError{err}
	}
	defer drainClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, readStatusError(req, resp, time.Now())
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	if err != nil {
		return nil, &networkError{err}
	}
	return data, nil
}

// postPublish sends one request and checks that the service queued every
// event of it.
func (c *Client) postPublish(ctx context.Context, body []byte, events int) error {
	data, err := c.post(ctx, "/publish", "application/json", body)
	if err != nil {
		return err
	}
	var ack struct {
		Queued *int `json:"queued"`
	}
	if json.Unmarshal(data, &ack) == nil && ack.Queued != nil && *ack.Queued != events {
		return fmt.Errorf("POST /publish: the service queued %d of the %d events sent", *ack.Queued, events)
	}
	return nil
}

// encodeBatch joins pre-encoded events into {"events":[...]} with one
// allocation.
func encodeBatch(batch []json.RawMessage) []byte {
	size := len(batchHead) + len(batchTail) + max(len(batch)-1, 0)
	for _, e := range batch {
		size += len(e)
	}
	b := make([]byte, 0, size)
	b = append(b, batchHead...)
	for i, e := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, batchTail...)
}

// The body of a request is batchHead, the events with commas between
// them, and batchTail.
const batchHead, batchTail = `{"events":[`, `]}`

// pacer spaces requests so that events leave at no more than rate per
// second on average: a request may start once all events reserved before it
// fit under the rate since start.
type pacer struct {
	start    time.Time
	rate     float64 // events per second; 0 means no limit
	mu       sync.Mutex
	reserved int
}

// reserve books n events and returns when the request carrying them may
// start.
func (p *pacer) reserve(n int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := p.start.Add(time.Duration(float64(p.reserved) / p.rate * float64(time.Second)))
	p.reserved += n
	return at
}

// wait blocks until a request of n events may start or ctx ends.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return ctx.Err()
	}
	d := time.Until(p.reserve(n))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
