package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/stretchr/testify/require"
)

func TestCutBatchesKeepsBodiesUnderTheByteCap(t *testing.T) {
	t.Parallel()
	event := func(n int) json.RawMessage { return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`) }
	// A body is 13 bytes of {"events":[ and ]}, the events, and commas.
	events := []json.RawMessage{event(40), event(40), event(40), event(200), event(10), event(10)}
	require.Equal(t, []span{{0, 2}, {2, 3}, {3, 4}, {4, 6}}, cutBatches(events, 3, 100),
		"two 40-byte events and a comma make 94 bytes; a third would pass 100; 200 bytes go alone")
	require.Equal(t, []span{{0, 3}, {3, 6}}, cutBatches(events, 3, 0), "no byte cap: by count only")
	require.Equal(t, []span{{0, 2}, {2, 4}, {4, 6}}, cutBatches(events, 2, 1000))
	require.Empty(t, cutBatches(nil, 3, 100))

	for _, s := range cutBatches(events, 3, 100) {
		if s.end-s.first > 1 {
			require.LessOrEqual(t, len(encodeBatch(events[s.first:s.end])), 100)
		}
	}
}

func TestPublishNamesTheRefusedRequestAndItsDetails(t *testing.T) {
	t.Parallel()
	events, _ := Generate(Plan{Events: 30, Seed: 1, RunID: "refused"})
	events[17] = json.RawMessage(strings.Replace(string(events[17]), `"timestamp":"`, `"timestamp":"x`, 1))
	fake := loadgentest.New(t, loadgentest.Options{})
	var accepted [][2]int
	_, err := NewClient(fake.URL, "").Publish(context.Background(), events, PublishOptions{
		BatchSize: 10, Concurrency: 1,
		Accepted: func(first, end int) { accepted = append(accepted, [2]int{first, end}) },
	})
	var be *BatchError
	require.ErrorAs(t, err, &be)
	require.Equal(t, 10, be.First)
	require.Equal(t, 20, be.End)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnprocessableEntity, se.Status)
	require.Len(t, se.Details, 1)
	require.Equal(t, 7, se.Details[0].Index, "index within the request")
	require.Equal(t, "timestamp", se.Details[0].Field)
	require.Equal(t, [][2]int{{0, 10}}, accepted)
}
