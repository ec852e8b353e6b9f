package queue_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Every event a request carries is packed once, as its canonical message
// form, in its key's group.
func TestPackEventsRoutesByKey(t *testing.T) {
	t.Parallel()
	evs, err := event.DecodeRequest("", []byte(`[
		{"topic":"orders","event_id":"o-1","timestamp":"2026-11-25T10:00:00Z","source":"shop"},
		{"topic":"orders","event_id":"o-2","timestamp":"2026-11-25T10:00:00+07:00","source":"shop","payload":{"n": 2}},
		{"topic":"users","event_id":"u-1","timestamp":"2026-11-25T10:00:00Z","source":"auth"}]`), event.Limits{})
	require.NoError(t, err)
	msgs := queue.PackEvents(evs, 10, 1<<20)
	var got []event.Event
	for _, m := range msgs {
		in, err := event.DecodeMessage(m.Body)
		require.NoError(t, err)
		require.Len(t, in, m.Events)
		for _, e := range in {
			require.Equal(t, queue.GroupOf(e.Topic, e.EventID), m.Group, "%s/%s travels in its key's group", e.Topic, e.EventID)
		}
		got = append(got, in...)
	}
	require.ElementsMatch(t, evs, got)
}

func TestAppendReplayBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want []string
	}{
		{body: "not json", want: []string{"not json"}},
		{body: "", want: []string{""}},
		{body: `{"topic":"t"}`, want: []string{`{"topic":"t"}`}},
		{body: `[{"a":1}, {"b":2}]`, want: []string{`{"a":1}`, `{"b":2}`}},
		{body: `[[{"a":1}],[[2]]]`, want: []string{`{"a":1}`, `2`}},
		{body: `[1, broken`, want: []string{`[1, broken`}},
		{body: `[]`, want: []string{`[]`}},
		{body: `[[], {"a":1}]`, want: []string{`[]`, `{"a":1}`}},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range queue.AppendReplayBodies(nil, []byte(tt.body)) {
			got = append(got, string(m))
		}
		require.Equal(t, tt.want, got, tt.body)
	}
}

// A replayed event travels in its key's group, as every published copy of
// it does; a body that is not one event is routed by its bytes.
func TestReplayMessagesRouteEventsByKey(t *testing.T) {
	t.Parallel()
	valid := []byte(`{"topic":"orders","event_id":"o-1","timestamp":"2026-11-25T10:00:00Z","source":"shop"}`)
	garbage := []byte("not json")
	msgs := queue.ReplayMessages([][]byte{valid, garbage})
	require.Len(t, msgs, 2)
	require.Equal(t, queue.GroupOf("orders", "o-1"), msgs[0].Group)
	require.Equal(t, queue.Singles([][]byte{garbage})[0].Group, msgs[1].Group)
	for _, m := range msgs {
		require.Equal(t, 1, m.Events)
	}
}
