package redisqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/queue"
	"github.com/logagg/logagg/shared/queue/queuetest"
	"github.com/logagg/logagg/shared/redisqueue"
)

// BenchmarkPublish publishes batches of 500 bodies of about 250 bytes, the
// default consume batch size with typical events: each as a message of its
// own (BATCH_SIZE=1), and packed the publish handler's way, by routing
// group, up to 100 events a message.
func BenchmarkPublish(b *testing.B) {
	batch := queuetest.Bodies("bench", 500, 250)
	groups := make([]uint32, len(batch))
	for i := range groups {
		groups[i] = uint32(i % queue.Groups)
	}
	for _, bc := range []struct {
		name string
		msgs []queue.Outgoing
	}{
		{"message=1event", queue.Singles(batch)},
		{"packed", queue.Pack(batch, groups, 100, 256<<10)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			q, client, stream := newQueue(b, redisqueue.Options{})
			b.SetBytes(500 * 250)
			for i := 0; b.Loop(); i++ {
				if i%100 == 99 { // keep Redis's memory bounded
					b.StopTimer()
					require.NoError(b, client.Del(ctx, stream).Err())
					b.StartTimer()
				}
				if err := q.Publish(ctx, bc.msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReceiveAck receives and acknowledges messages 500 at a time; one
// op is one message.
func BenchmarkReceiveAck(b *testing.B) {
	ctx := context.Background()
	q, _, _ := newQueue(b, redisqueue.Options{Block: 100 * time.Millisecond})
	batch := queuetest.Bodies("bench", 500, 250)
	for published := 0; published < b.N; published += len(batch) {
		require.NoError(b, q.Publish(ctx, queue.Singles(batch)))
	}
	c := q.Consumer("bench")
	b.SetBytes(250)
	b.ResetTimer()
	for received := 0; received < b.N; {
		msgs, err := c.Receive(ctx, 500)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Ack(ctx, queue.IDs(msgs)); err != nil {
			b.Fatal(err)
		}
		received += len(msgs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
