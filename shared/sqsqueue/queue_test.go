package sqsqueue_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/sqsfake"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/queue/queuetest"
	"github.com/logagg/logagg/shared/sqsqueue"
)

// newClient returns a real SDK client that talks to fake; it retries a
// failed request twice without waiting, so tests of failures stay quick.
func newClient(fake *sqsfake.Server) *sqs.Client {
	return sqs.New(sqs.Options{
		BaseEndpoint: aws.String(fake.URL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.RateLimiter = ratelimit.None
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		}),
	})
}

// counter is an in-memory PublishCounter and queue.Counter.
type counter struct {
	mu   sync.Mutex
	n    int64
	fail int // AddPublished calls still to fail
}

func (c *counter) AddPublished(_ context.Context, n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return event.Errorf(event.Unavailable, "counter down")
	}
	c.n += n
	return nil
}

func (c *counter) Published(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, nil
}

type fixture struct {
	fake    *sqsfake.Server
	url     string
	q       *sqsqueue.Queue
	counter *counter
}

func newFixture(t *testing.T, opts sqsqueue.Options, attrs sqsfake.Attributes) fixture {
	t.Helper()
	fake := sqsfake.New()
	t.Cleanup(fake.Close)
	f := fixture{fake: fake, url: fake.CreateQueue("logagg-events", attrs), counter: &counter{}}
	opts.QueueURL = f.url
	opts.Counter = f.counter
	f.q = sqsqueue.New(newClient(fake), opts)
	return f
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) queuetest.Harness {
		f := newFixture(t, sqsqueue.Options{
			MaxBacklog: opts.MaxBacklog, VisibilityTimeout: opts.ClaimIdle, Wait: opts.Wait,
		}, sqsfake.Attributes{})
		return queuetest.Harness{Publisher: f.q, Counter: f.counter, NewConsumer: queuetest.Consumers(f.q.Consumer)}
	})
}

func sendCalls(f fixture) []sqsfake.Call {
	var out []sqsfake.Call
	for _, c := range f.fake.Calls() {
		if c.Operation == "SendMessageBatch" {
			out = append(out, c)
		}
	}
	return out
}

func TestChunksRespectBothLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		n, size   int
		wantSizes []int
	}{
		{"one", 1, 100, []int{1}},
		{"ten fit one request", 10, 1000, []int{10}},
		{"eleven need two", 11, 1000, []int{10, 1}},
		{"25 small", 25, 200, []int{10, 10, 5}},
		{"bytes bind before count", 9, 60 * 1024, []int{4, 4, 1}},
		{"each at the limit", 3, sqsqueue.MaxBatchBytes, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bodies := queuetest.Bodies("t", tt.n, tt.size)
			chunks := sqsqueue.Chunks(bodies)
			var sizes []int
			var flat [][]byte
			for _, c := range chunks {
				sizes = append(sizes, len(c))
				total := 0
				for _, b := range c {
					total += len(b)
				}
				require.LessOrEqual(t, total, sqsqueue.MaxBatchBytes)
				flat = append(flat, c...)
			}
			require.Equal(t, tt.wantSizes, sizes)
			require.Equal(t, bodies, flat, "chunks keep every body, in order")
		})
	}
}

func TestPublishSendsInBatchesWithinTheLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	bodies := append(queuetest.Bodies("t", 23, 300), queuetest.Bodies("t", 6, 100*1024)...)
	require.NoError(t, f.q.Publish(context.Background(), queue.Singles(bodies)))

	var got []string
	for _, b := range bodies {
		got = append(got, string(b))
	}
	require.Equal(t, got, f.fake.Bodies(f.url))
	calls := sendCalls(f)
	for _, c := range calls {
		require.LessOrEqual(t, c.Entries, sqsqueue.MaxBatchEntries)
		require.LessOrEqual(t, c.Bytes, sqsqueue.MaxBatchBytes)
	}
	require.Len(t, calls, len(sqsqueue.Chunks(bodies)))
	queuetest.RequireCount(t, f.counter.Published, int64(len(bodies)))
}

func TestPublishRetriesFailedEntries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	f.fake.FailEntries(13) // more than a batch: the first batch fails whole, then part of the second
	bodies := queuetest.Bodies("t", 25, 200)
	require.NoError(t, f.q.Publish(context.Background(), queue.Singles(bodies)))

	got := f.fake.Bodies(f.url)
	require.Len(t, got, 25, "every message queued exactly once")
	want := map[string]bool{}
	for _, b := range bodies {
		want[string(b)] = true
	}
	for _, b := range got {
		require.True(t, want[b], "unexpected body %s", b)
		delete(want, b)
	}
	queuetest.RequireCount(t, f.counter.Published, 25)
	require.Greater(t, len(sendCalls(f)), 3, "failed entries were sent again")
}

func TestPublishGivesUpOnEntriesThatKeepFailing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{SendAttempts: 2}, sqsfake.Attributes{})
	bodies := queuetest.Bodies("t", 15, 200)
	f.fake.FailEntries(12) // the first batch's first attempt fails whole, two entries of its second too
	err := f.q.Publish(context.Background(), queue.Singles(bodies))
	require.Error(t, err)
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)
	require.ErrorContains(t, err, "SQS did not accept 2 messages after 2 attempts")
	// What SQS accepted is queued and counted; the rest is not sent.
	queued := len(f.fake.Bodies(f.url))
	require.Equal(t, 8, queued)
	queuetest.RequireCount(t, f.counter.Published, int64(queued))
}

// cancelAfterSend is an API that cancels the publisher's context once SQS
// has answered the first SendMessageBatch.
type cancelAfterSend struct {
	sqsqueue.API
	cancel context.CancelFunc
}

func (c cancelAfterSend) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	defer c.cancel()
	return c.API.SendMessageBatch(ctx, in, optFns...)
}

func TestPublishStopsRetryingWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	f.fake.FailEntries(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := sqsqueue.New(cancelAfterSend{API: newClient(f.fake), cancel: cancel}, sqsqueue.Options{QueueURL: f.url, SendAttempts: 100})
	err := q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 3, 100)))
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)
	require.Len(t, sendCalls(f), 1, "the failed entry is not sent again")
	require.Len(t, f.fake.Bodies(f.url), 2)
}

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failures []sqsfake.Failure
		bodies   [][]byte
		queueURL string // a queue that does not exist, when set
		want     event.Code
	}{
		{"server errors outlast the SDK's retries", []sqsfake.Failure{{Status: 500, Type: "InternalError"}, {Status: 500, Type: "InternalError"}, {Status: 503, Type: "ServiceUnavailable"}}, queuetest.Bodies("t", 3, 100), "", event.Unavailable},
		{"throttling", []sqsfake.Failure{{Status: 400, Type: "RequestThrottled"}, {Status: 400, Type: "RequestThrottled"}, {Status: 400, Type: "RequestThrottled"}}, queuetest.Bodies("t", 3, 100), "", event.Overloaded},
		{"no permission", []sqsfake.Failure{{Status: 403, Type: "AccessDenied"}}, queuetest.Bodies("t", 3, 100), "", event.Internal},
		{"no such queue", nil, queuetest.Bodies("t", 3, 100), "missing", event.Internal},
		{"a message SQS refuses", nil, [][]byte{[]byte("ok"), []byte("bad \x01 control")}, "", event.Invalid},
		{"a message over 256 KiB", nil, [][]byte{bytes.Repeat([]byte("x"), sqsqueue.MaxBatchBytes+1)}, "", event.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
			q := f.q
			if tt.queueURL != "" {
				q = sqsqueue.New(newClient(f.fake), sqsqueue.Options{QueueURL: f.fake.URL + "/123456789012/" + tt.queueURL, Counter: f.counter})
			}
			f.fake.FailRequests(tt.failures...)
			err := q.Publish(context.Background(), queue.Singles(tt.bodies))
			require.Error(t, err)
			require.Equal(t, tt.want, event.ErrorCode(err), "%v", err)
			require.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestPublishRecoversWithinTheSDKRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	f.fake.FailRequests(sqsfake.Failure{Status: 500, Type: "InternalError"})
	require.NoError(t, f.q.Publish(context.Background(), queue.Singles(queuetest.Bodies("t", 3, 100))))
	require.Len(t, f.fake.Bodies(f.url), 3)
}

func TestPublishCountsEvenWhenTheCounterStumbles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	f.counter.fail = 2
	require.NoError(t, f.q.Publish(context.Background(), queue.Singles(queuetest.Bodies("t", 4, 100))))
	queuetest.RequireCount(t, f.counter.Published, 4)
}

func TestPublishWithoutBacklogLimitSkipsTheCountRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{}, sqsfake.Attributes{})
	require.NoError(t, f.q.Publish(context.Background(), queue.Singles(queuetest.Bodies("t", 2, 100))))
	for _, c := range f.fake.Calls() {
		require.NotEqual(t, "GetQueueAttributes", c.Operation)
	}
}

func TestPingAndBacklog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{Wait: 10 * time.Millisecond}, sqsfake.Attributes{})
	ctx := context.Background()
	require.NoError(t, f.q.Ping(ctx))
	require.NoError(t, f.q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 5, 100))))
	queuetest.RequireCount(t, f.q.Backlog, 5)

	c := f.q.Consumer("c")
	msgs := queuetest.Receive(t, c, 2)
	require.Len(t, msgs, 2)
	queuetest.RequireCount(t, f.q.Backlog, 5, "messages in flight are still backlog")
	queuetest.Ack(t, c, msgs)
	queuetest.RequireCount(t, f.q.Backlog, 3)

	f.fake.FailRequests(sqsfake.Failure{Status: 503, Type: "ServiceUnavailable"}, sqsfake.Failure{Status: 503, Type: "ServiceUnavailable"}, sqsfake.Failure{Status: 503, Type: "ServiceUnavailable"})
	err := f.q.Ping(ctx)
	require.Equal(t, event.Unavailable, event.ErrorCode(err), "%v", err)
}

func TestReceiveAsksForAtMostTenAndLongPolls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{Wait: 1500 * time.Millisecond}, sqsfake.Attributes{})
	ctx := context.Background()
	require.NoError(t, f.q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 25, 100))))
	c := f.q.Consumer("c")
	msgs, err := c.Receive(ctx, 500)
	require.NoError(t, err)
	require.Len(t, msgs, 10)

	// A message published while Receive long-polls arrives in that call.
	empty := newFixture(t, sqsqueue.Options{Wait: 5 * time.Second}, sqsfake.Attributes{})
	done := make(chan []queue.Message, 1)
	go func() {
		msgs, _ := empty.q.Consumer("c").Receive(ctx, 10)
		done <- msgs
	}()
	require.Eventually(t, func() bool {
		for _, c := range empty.fake.Calls() {
			if c.Operation == "ReceiveMessage" {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, empty.q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 1, 100))))
	select {
	case got := <-done:
		require.Len(t, got, 1)
	case <-time.After(10 * time.Second):
		t.Fatal("Receive did not return the message published while it waited")
	}
}

func TestAckIgnoresUnknownAndStaleHandles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sqsqueue.Options{Wait: 10 * time.Millisecond, VisibilityTimeout: time.Second}, sqsfake.Attributes{})
	ctx := context.Background()
	require.NoError(t, f.q.Publish(ctx, queue.Singles(queuetest.Bodies("t", 1, 100))))
	first, second := f.q.Consumer("a"), f.q.Consumer("b")
	msgs, err := first.Receive(ctx, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	var again []queue.Message
	require.Eventually(t, func() bool {
		again, err = second.Receive(ctx, 10)
		return err == nil && len(again) == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, msgs[0].ID, again[0].ID)
	require.Equal(t, 2, again[0].Deliveries)

	// The first consumer's handle is stale: its Ack succeeds and deletes
	// nothing, as with SQS. The latest handle deletes.
	require.NoError(t, first.Ack(ctx, []string{msgs[0].ID, "unknown"}))
	require.Len(t, f.fake.Bodies(f.url), 1)
	require.NoError(t, second.Ack(ctx, []string{again[0].ID}))
	require.Empty(t, f.fake.Bodies(f.url))
	require.NoError(t, second.Ack(ctx, []string{again[0].ID}))
}

func TestConnectReadsTheEnvironment(t *testing.T) {
	fake := sqsfake.New()
	t.Cleanup(fake.Close)
	url := fake.CreateQueue("from-env", sqsfake.Attributes{})
	t.Setenv("AWS_ENDPOINT_URL_SQS", fake.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	q, err := sqsqueue.Connect(context.Background(), sqsqueue.Options{QueueURL: url})
	require.NoError(t, err)
	require.NoError(t, q.Publish(context.Background(), queue.Singles([][]byte{[]byte(`{"a":1}`)})))
	require.Equal(t, []string{`{"a":1}`}, fake.Bodies(url))

	_, err = sqsqueue.Connect(context.Background(), sqsqueue.Options{})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "QUEUE_URL"))
}

func TestFakeRefusesWhatSQSRefuses(t *testing.T) {
	t.Parallel()
	fake := sqsfake.New()
	t.Cleanup(fake.Close)
	url := fake.CreateQueue("q", sqsfake.Attributes{})
	client := newClient(fake)
	ctx := context.Background()
	entries := func(n, size int) []sqsEntry {
		out := make([]sqsEntry, n)
		for i := range out {
			out[i] = sqsEntry{fmt.Sprint(i), strings.Repeat("x", size)}
		}
		return out
	}
	for name, es := range map[string][]sqsEntry{
		"eleven entries": entries(11, 10),
		"over 256 KiB":   entries(2, 200*1024),
		"no entries":     nil,
	} {
		_, err := client.SendMessageBatch(ctx, batchInput(url, es))
		require.Error(t, err, name)
	}
	resp, err := http.Post(fake.URL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a request without the JSON protocol's headers")
}

type sqsEntry struct{ id, body string }

func batchInput(url string, es []sqsEntry) *sqs.SendMessageBatchInput {
	in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(url)}
	for _, e := range es {
		in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(e.id), MessageBody: aws.String(e.body)})
	}
	return in
}
