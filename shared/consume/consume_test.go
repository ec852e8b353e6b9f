package consume

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// recordingStore keeps the records it was given and answers err.
type recordingStore struct {
	recs []store.Record
	err  error
}

func (s *recordingStore) Consume(_ context.Context, recs []store.Record) (store.Result, error) {
	s.recs = recs
	return store.Result{}, s.err
}

func loadSQSEvent(t *testing.T, name string) events.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	require.NoError(t, err)
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	return ev
}

func TestHandleStubSQSEvent(t *testing.T) {
	t.Parallel()
	st := &recordingStore{}
	h := &Handler{Store: st, MaxDeliveries: 5}
	resp, err := h.Handle(context.Background(), loadSQSEvent(t, "consume-sqs.json"))
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	require.Len(t, st.recs, 5)

	// an event object, another, a repeat of the first, an array of two, and garbage
	require.Len(t, st.recs[0].Events, 1)
	require.Equal(t, "evt-100", st.recs[0].Events[0].EventID)
	require.Equal(t, st.recs[0].Events[0].Key(), st.recs[2].Events[0].Key())
	require.Len(t, st.recs[3].Events, 2)
	require.Empty(t, st.recs[4].Events)
	require.NotEmpty(t, st.recs[4].DeadReason)
	require.Equal(t, 1, st.recs[4].DeadCount)
	require.Equal(t, "this is not JSON", string(st.recs[4].Body))
	for i, r := range st.recs {
		require.NotEmpty(t, r.MessageID, i)
		if i < 4 {
			require.Empty(t, r.DeadReason, i)
		}
	}
}

func TestHandleDeadLettersInvalidEventsWithTheirCount(t *testing.T) {
	t.Parallel()
	st := &recordingStore{}
	h := &Handler{Store: st}
	body := `[{"topic":"t","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s"},{"topic":""},{"x":1}]`
	_, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}}})
	require.NoError(t, err)
	require.Len(t, st.recs, 1)
	require.Contains(t, st.recs[0].DeadReason, "event 1")
	require.Equal(t, 3, st.recs[0].DeadCount, "a dead array stands for each of its events")
}

func TestHandleDeadLettersAfterTooManyDeliveries(t *testing.T) {
	t.Parallel()
	st := &recordingStore{}
	h := &Handler{Store: st, MaxDeliveries: 3}
	good := `{"topic":"t","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s"}`
	_, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: good, Attributes: map[string]string{"ApproximateReceiveCount": "3"}},
		{MessageId: "m2", Body: good, Attributes: map[string]string{"ApproximateReceiveCount": "4"}},
	}})
	require.NoError(t, err)
	require.Empty(t, st.recs[0].DeadReason)
	require.Contains(t, st.recs[1].DeadReason, "delivered 4 times")
}

func TestHandleDeadLettersAMessageWithoutBody(t *testing.T) {
	t.Parallel()
	st := &recordingStore{}
	_, err := (&Handler{Store: st}).Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1"}, {MessageId: "m2", Body: " \n"},
	}})
	require.NoError(t, err)
	require.Equal(t, "the queue message has no body", st.recs[0].DeadReason)
	require.Equal(t, 1, st.recs[0].DeadCount)
	require.Empty(t, st.recs[0].Events)
	require.Contains(t, st.recs[1].DeadReason, "not valid JSON", "white space is a body, just not JSON")
	require.Equal(t, " \n", string(st.recs[1].Body), "kept as it came")
}

func TestHandleReportsEveryMessageWhenTheStoreIsDown(t *testing.T) {
	t.Parallel()
	st := &recordingStore{err: event.Errorf(event.Unavailable, "database unavailable")}
	h := &Handler{Store: st}
	ev := loadSQSEvent(t, "consume-sqs.json")
	resp, err := h.Handle(context.Background(), ev)
	require.NoError(t, err, "partial batch response, not a top-level error")
	require.Len(t, resp.BatchItemFailures, len(ev.Records))
	for i, f := range resp.BatchItemFailures {
		require.Equal(t, ev.Records[i].MessageId, f.ItemIdentifier)
	}
}

func TestHandleEmptyEvent(t *testing.T) {
	t.Parallel()
	st := &recordingStore{}
	resp, err := (&Handler{Store: st}).Handle(context.Background(), events.SQSEvent{})
	require.NoError(t, err)
	require.Empty(t, resp.BatchItemFailures)
	require.Nil(t, st.recs)
}

// A dead letter's reason says what is wrong once: the decoding error's
// message already quotes encoding/json, which must not be appended again.
func TestHandleDeadLetterReasonSaysItOnce(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, reason string }{
		{"e", "queue message is not valid JSON at line 1, column 1 (byte 1): invalid character 'e' looking for beginning of value"},
		{`{"topic":`, "queue message is not valid JSON at line 1, column 9 (byte 9): unexpected end of JSON input"},
	}
	for _, tt := range tests {
		st := &recordingStore{}
		_, err := (&Handler{Store: st}).Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: tt.body}}})
		require.NoError(t, err)
		require.Equal(t, tt.reason, st.recs[0].DeadReason, tt.body)
	}
}
