package queue_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/queue"
)

func TestGroupOf(t *testing.T) {
	t.Parallel()
	seen := map[uint32]int{}
	for i := range 1600 {
		g := queue.GroupOf("orders", fmt.Sprintf("e-%d", i))
		require.Less(t, g, uint32(queue.Groups))
		require.Equal(t, g, queue.GroupOf("orders", fmt.Sprintf("e-%d", i)), "the same key, the same group")
		seen[g]++
	}
	require.Len(t, seen, queue.Groups, "keys spread over every group")
	for g, n := range seen {
		require.Greater(t, n, 50, "group %d got %d of 1600 keys", g, n)
	}
	require.NotEqual(t, queue.GroupOf("ab", "c"), queue.GroupOf("a", "bc"), "topic and event ID are kept apart")
}

// Publishers and consumers of different versions share a stream, so the
// group of a key must never change: FNV-1a of topic, a NUL byte, event ID.
func TestGroupOfIsFNV1aOfTheKey(t *testing.T) {
	t.Parallel()
	for _, key := range [][2]string{{"orders", "e-1"}, {"ab", "c"}, {"a", "bc"}, {"", ""}, {"user.login", "evt-ü"}} {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key[0] + "\x00" + key[1]))
		require.Equal(t, h.Sum32()%queue.Groups, queue.GroupOf(key[0], key[1]), "key %q", key)
	}
}

// unpack returns the event bodies a message carries.
func unpack(t *testing.T, m queue.Outgoing) []string {
	t.Helper()
	if m.Events == 1 {
		require.NotEqual(t, byte('['), m.Body[0], "a one-event message is the event itself")
		return []string{string(m.Body)}
	}
	var elems []json.RawMessage
	require.NoError(t, json.Unmarshal(m.Body, &elems), "a message of several events is a JSON array: %s", m.Body)
	require.Len(t, elems, m.Events)
	out := make([]string, len(elems))
	for i, e := range elems {
		out[i] = string(e)
	}
	return out
}

func TestPack(t *testing.T) {
	t.Parallel()
	var bodies [][]byte
	var groups []uint32
	for i := range 200 {
		bodies = append(bodies, fmt.Appendf(nil, `{"n":%d,"pad":"%*s"}`, i, i%40, ""))
		groups = append(groups, uint32(i*7%5))
	}
	const maxEvents, maxBytes = 12, 600
	msgs := queue.Pack(bodies, groups, maxEvents, maxBytes)

	group := map[string]uint32{}
	for i, b := range bodies {
		group[string(b)] = groups[i]
	}
	var got []string
	lastInGroup := map[uint32]int{}
	for _, m := range msgs {
		evs := unpack(t, m)
		require.LessOrEqual(t, len(evs), maxEvents)
		require.LessOrEqual(t, len(m.Body), maxBytes)
		for _, e := range evs {
			require.Equal(t, m.Group, group[e], "every event of a message is in the message's group")
			var n struct{ N int }
			require.NoError(t, json.Unmarshal([]byte(e), &n))
			require.Greater(t, n.N+1, lastInGroup[m.Group], "a group keeps the order given")
			lastInGroup[m.Group] = n.N + 1
		}
		got = append(got, evs...)
	}
	require.Len(t, got, len(bodies), "every event is packed once")
	require.Less(t, len(msgs), len(bodies)/4, "events share messages")
}

func TestPackLimits(t *testing.T) {
	t.Parallel()
	big := []byte(`"0123456789012345678901234567890123456789"`)
	small := []byte(`1`)

	t.Run("an event over maxBytes goes alone", func(t *testing.T) {
		msgs := queue.Pack([][]byte{small, big, small}, []uint32{3, 3, 3}, 10, 20)
		require.Len(t, msgs, 3)
		require.Equal(t, big, msgs[1].Body)
	})
	t.Run("maxEvents 1 is one message per event, in order", func(t *testing.T) {
		msgs := queue.Pack([][]byte{[]byte("1"), []byte("2"), []byte("3")}, []uint32{9, 0, 4}, 1, 1000)
		require.Equal(t, []queue.Outgoing{
			{Body: []byte("1"), Events: 1, Group: 9},
			{Body: []byte("2"), Events: 1, Group: 0},
			{Body: []byte("3"), Events: 1, Group: 4},
		}, msgs)
	})
	t.Run("the brackets count", func(t *testing.T) {
		// [1,1] is 5 bytes; [1,1,1] is 7.
		msgs := queue.Pack([][]byte{small, small, small}, []uint32{0, 0, 0}, 10, 6)
		require.Len(t, msgs, 2)
		require.Equal(t, "[1,1]", string(msgs[0].Body))
		require.Equal(t, "1", string(msgs[1].Body))
	})
	t.Run("nothing packs to nothing", func(t *testing.T) {
		require.Empty(t, queue.Pack(nil, nil, 10, 100))
	})
}

func TestSingles(t *testing.T) {
	t.Parallel()
	msgs := queue.Singles([][]byte{[]byte("a"), []byte("b"), []byte("a")})
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		require.Equal(t, 1, m.Events)
		require.Less(t, m.Group, uint32(queue.Groups))
	}
	require.Equal(t, msgs[0].Group, msgs[2].Group, "the same bytes, the same group")
}

// BenchmarkPack packs a publish request of 500 events of about 250 bytes,
// as the publish handler does.
func BenchmarkPack(b *testing.B) {
	bodies := make([][]byte, 500)
	groups := make([]uint32, len(bodies))
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"topic":"t","event_id":"e-%d","payload":{"pad":"%0200d"}}`, i, i)
		groups[i] = queue.GroupOf("t", fmt.Sprintf("e-%d", i))
	}
	b.SetBytes(int64(500 * len(bodies[0])))
	for b.Loop() {
		queue.Pack(bodies, groups, 100, 256<<10)
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}
