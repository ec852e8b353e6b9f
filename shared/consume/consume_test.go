package consume

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

// recordingStore keeps the records it was given and answers err.
type recordingStore struct {
	recs []event.Record
	err  error
}

func (s *recordingStore) Consume(_ context.Context, recs []event.Record) (event.BatchResult, error) {
	s.recs = recs
	return event.BatchResult{}, s.err
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

// resultStore answers every batch with res.
type resultStore struct{ res event.BatchResult }

func (s resultStore) Consume(context.Context, []event.Record) (event.BatchResult, error) {
	return s.res, nil
}

// suppressedCounter is an Observer that adds up the suppressed lines.
type suppressedCounter struct{ lines int }

func (*suppressedCounter) ObserveBatch(event.BatchResult, error, time.Duration) {}
func (o *suppressedCounter) ObserveSuppressedDetails(lines int)                 { o.lines += lines }

// jsonLog is a logger that writes JSON lines into a buffer, and the lines
// written so far, decoded.
type jsonLog struct{ buf bytes.Buffer }

func (l *jsonLog) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(&l.buf, nil)) }

func (l *jsonLog) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(l.buf.Bytes()))
	for dec.More() {
		var line map[string]any
		require.NoError(t, dec.Decode(&line))
		delete(line, "time")
		out = append(out, line)
	}
	return out
}

// withMessage keeps the lines whose msg is msg.
func withMessage(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

func oneMessage(id string) events.SQSEvent {
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: id, Body: "{}"}}}
}

func TestHandleLogsTheConflictsAndDeadLettersItNames(t *testing.T) {
	t.Parallel()
	res := event.BatchResult{
		Received: 9, Duplicates: 9, Conflicts: 7, DeadLettered: 3,
		Conflicted: []event.Conflict{
			{Topic: "t", EventID: "e1", MessageID: "m1"}, {Topic: "t", EventID: "e2", MessageID: "m2"},
			{Topic: "t", EventID: "e3", MessageID: "m3"}, {Topic: "t", EventID: "e4", MessageID: "m4"},
			{Topic: "u", EventID: "e1", MessageID: "m5"},
		},
		DeadLetters: []event.DeadLetter{
			{ID: 41, MessageID: "m8", Reason: "the queue message has no body", Events: 1},
			{ID: 42, MessageID: "m9", Reason: "1 of 2 events is invalid", Events: 2},
		},
	}
	var log jsonLog
	obs := &suppressedCounter{}
	h := &Handler{Store: resultStore{res}, Logger: log.logger(), Observer: obs, Details: NewDetailLimiter(0, 100)}
	_, err := h.Handle(context.Background(), oneMessage("m0"))
	require.NoError(t, err)

	require.Equal(t, []map[string]any{
		{"level": "WARN", "msg": "duplicates with a different payload dropped", "payload_conflicts": 7.0},
		{"level": "WARN", "msg": "duplicate with a different payload dropped", "topic": "t", "event_id": "e1", "message_id": "m1"},
		{"level": "WARN", "msg": "duplicate with a different payload dropped", "topic": "t", "event_id": "e2", "message_id": "m2"},
		{"level": "WARN", "msg": "duplicate with a different payload dropped", "topic": "t", "event_id": "e3", "message_id": "m3"},
		{"level": "WARN", "msg": "duplicate with a different payload dropped", "topic": "t", "event_id": "e4", "message_id": "m4"},
		{"level": "WARN", "msg": "duplicate with a different payload dropped", "topic": "u", "event_id": "e1", "message_id": "m5"},
		{"level": "WARN", "msg": "messages dead-lettered", "messages": 2.0, "events": 3.0},
		{"level": "WARN", "msg": "message dead-lettered", "message_id": "m8", "dead_letter_id": 41.0,
			"reason": "the queue message has no body", "events": 1.0, "suppressed": 2.0},
		{"level": "WARN", "msg": "message dead-lettered", "message_id": "m9", "dead_letter_id": 42.0,
			"reason": "1 of 2 events is invalid", "events": 2.0},
	}, log.lines(t), "the two conflicts the batch did not name are reported on the next detail line")
	require.Equal(t, 2, obs.lines)
}

func TestHandleSuppressesDetailLinesOverTheRate(t *testing.T) {
	t.Parallel()
	letters := func(ids ...int64) event.BatchResult {
		res := event.BatchResult{DeadLettered: len(ids)}
		for _, id := range ids {
			res.DeadLetters = append(res.DeadLetters, event.DeadLetter{ID: id, MessageID: fmt.Sprint("m", id), Reason: "bad", Events: 1})
		}
		return res
	}
	c := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	details := limiterAt(c, 1, 3)
	var log jsonLog
	obs := &suppressedCounter{}
	h := &Handler{Store: resultStore{letters(1, 2, 3, 4, 5)}, Logger: log.logger(), Observer: obs, Details: details}
	_, err := h.Handle(context.Background(), oneMessage("a"))
	require.NoError(t, err)

	printed := withMessage(log.lines(t), "message dead-lettered")
	require.Len(t, printed, 3, "a burst of three, then the rate holds")
	for i, l := range printed {
		require.Equal(t, float64(i+1), l["dead_letter_id"])
		require.NotContains(t, l, "suppressed")
	}
	require.Len(t, withMessage(log.lines(t), "messages dead-lettered"), 1, "the count is always logged")
	require.Equal(t, 2, obs.lines)

	// Another handler of the same process shares the limiter.
	c.advance(time.Second)
	other := &Handler{Store: resultStore{letters(6, 7)}, Logger: log.logger(), Observer: obs, Details: details}
	_, err = other.Handle(context.Background(), oneMessage("b"))
	require.NoError(t, err)
	printed = withMessage(log.lines(t), "message dead-lettered")
	require.Len(t, printed, 4, "a second later, one more")
	require.Equal(t, 6.0, printed[3]["dead_letter_id"])
	require.Equal(t, 2.0, printed[3]["suppressed"], "it says how many were held back before it")
	require.Equal(t, 3, obs.lines)
}

func TestHandleLogsNothingAboutACleanBatch(t *testing.T) {
	t.Parallel()
	var log jsonLog
	obs := &suppressedCounter{}
	h := &Handler{Store: resultStore{event.BatchResult{Received: 3, Unique: 2, Duplicates: 1}}, Logger: log.logger(), Observer: obs}
	_, err := h.Handle(context.Background(), oneMessage("a"))
	require.NoError(t, err)
	require.Empty(t, log.lines(t))
	require.Zero(t, obs.lines)
}

// The whole path on the real database: what the log lines name is what
// was stored.
func TestHandleLogsWhatItStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, testenv.NewDatabase(t), store.Options{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	var log jsonLog
	h := &Handler{Store: st, Logger: log.logger(), Details: NewDetailLimiter(0, 100)}

	stored := `{"topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"v":1}}`
	changed := `{"topic":"user.login","event_id":"evt-1","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"v":2}}`
	_, err = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: stored}, {MessageId: "m2", Body: "e"}, {MessageId: "m3", Body: `{"topic":`},
	}})
	require.NoError(t, err)
	_, err = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m4", Body: changed}}})
	require.NoError(t, err)

	letters, err := st.DeadLetters(ctx, 10, 0)
	require.NoError(t, err)
	require.Len(t, letters, 2)
	reasons := map[string]string{
		"m2": "queue message is not valid JSON at line 1, column 1 (byte 1): invalid character 'e' looking for beginning of value",
		"m3": "queue message is not valid JSON at line 1, column 9 (byte 9): unexpected end of JSON input",
	}
	logged := map[string]map[string]any{}
	for _, l := range withMessage(log.lines(t), "message dead-lettered") {
		logged[l["message_id"].(string)] = l
	}
	require.Len(t, logged, 2)
	for _, d := range letters {
		require.Equal(t, reasons[d.MessageID], d.Reason, "the stored reason of %s says it once", d.MessageID)
		require.Equal(t, float64(d.ID), logged[d.MessageID]["dead_letter_id"], d.MessageID)
		require.Equal(t, d.Reason, logged[d.MessageID]["reason"], d.MessageID)
	}

	conflicts := withMessage(log.lines(t), "duplicate with a different payload dropped")
	require.Len(t, conflicts, 1)
	require.Equal(t, "user.login", conflicts[0]["topic"])
	require.Equal(t, "evt-1", conflicts[0]["event_id"])
	require.Equal(t, "m4", conflicts[0]["message_id"])
}
