package worker

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/memqueue"
	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/shared/queue"
)

// losing is a consumer that finds, each time it acknowledges, the first
// lose messages taken over by another consumer: it leaves them pending and
// reports them, as a Redis consumer that was paused past CLAIM_IDLE does.
type losing struct {
	*memqueue.Consumer
	lose int
}

func (l *losing) AckOwn(ctx context.Context, ids []string) (queue.TakenOver, error) {
	n := min(l.lose, len(ids))
	if err := l.Consumer.Ack(ctx, ids[n:]); err != nil {
		return queue.TakenOver{}, err
	}
	return queue.TakenOver{Messages: n, Events: 10 * n}, nil
}

// takeovers counts what a worker reports taken over.
type takeovers struct {
	mu       sync.Mutex
	messages int
}

func (o *takeovers) ObserveTakenOver(messages int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.messages += messages
}

func (o *takeovers) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.messages
}

// A worker that comes to acknowledge its batch and finds some of it taken
// over says so in a warning with the counts and in its Observer, and
// leaves those messages to their new holder.
func TestWorkerReportsMessagesTakenOverWhenItAcknowledges(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	publish(t, q, 3)
	var logs proc.Buffer
	obs := &takeovers{}
	rec := newRecorder()
	stop := start(t, &Worker{
		Consumer: &losing{Consumer: q.Consumer("w"), lose: 2}, Handle: rec.Handle, BatchSize: 3,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Observer: obs,
	})
	eventually(t, func() bool { return rec.handled() == 3 && obs.count() == 2 }, "the batch is handled and its acknowledgement finds two taken over")
	stop()
	require.Contains(t, logs.String(), `"level":"WARN","msg":"messages taken over by another consumer while this one held them; left to it"`)
	require.Contains(t, logs.String(), `"messages":3,"taken_over":2,"events_taken_over":20,"acknowledged":1`)
	require.EqualValues(t, 2, backlog(t, q), "the two taken over stay pending for their new holder")
}

// A Splitter's part acknowledges through the Splitter's consumer, and
// passes on what that one found taken over.
func TestPartReportsWhatItsConsumerFoundTakenOver(t *testing.T) {
	t.Parallel()
	q := memqueue.New(memqueue.Options{Block: 20 * time.Millisecond, ClaimIdle: time.Hour})
	publish(t, q, 2)
	c := q.Consumer("w")
	got, err := c.Receive(context.Background(), 2)
	require.NoError(t, err)
	require.Len(t, got, 2)

	s := NewSplitter(&losing{Consumer: c, lose: 1}, 1, 2, 0, nil)
	lost, err := s.Part(0).AckOwn(context.Background(), queue.IDs(got))
	require.NoError(t, err)
	require.Equal(t, queue.TakenOver{Messages: 1, Events: 10}, lost)
	require.EqualValues(t, 1, backlog(t, q))

	// Over a consumer that cannot tell, it acknowledges them all.
	publish(t, q, 1)
	more, err := c.Receive(context.Background(), 1)
	require.NoError(t, err)
	lost, err = NewSplitter(c, 1, 2, 0, nil).Part(0).AckOwn(context.Background(), queue.IDs(more))
	require.NoError(t, err)
	require.Zero(t, lost)
	require.EqualValues(t, 1, backlog(t, q))
}
