package loadgen

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/stretchr/testify/require"
)

func sentAt(t *testing.T, raw json.RawMessage) (string, bool) {
	t.Helper()
	var e struct {
		Payload map[string]any `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(raw, &e))
	v, ok := e.Payload["sent_at"]
	if !ok {
		return "", false
	}
	s, isString := v.(string)
	require.True(t, isString, "sent_at is a string: %s", raw)
	return s, true
}

func TestGenerateSentAtField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		plan Plan
	}{
		{"default payload", Plan{Events: 2000, DupRate: 0.3, Seed: 1, RunID: "sentat", SentAtField: true}},
		{"tiny payload", Plan{Events: 200, DupRate: 0.3, PayloadBytes: 1, Seed: 2, RunID: "sentat", SentAtField: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			events, _ := Generate(tc.plan)
			for i, raw := range events {
				v, ok := sentAt(t, raw)
				require.True(t, ok, "event %d has sent_at: %s", i, raw)
				require.Equal(t, sentAtZero, v)
				_, err := time.Parse(time.RFC3339Nano, v)
				require.NoError(t, err, "the placeholder is itself an instant")
			}
		})
	}

	without, _ := Generate(Plan{Events: 100, Seed: 1, RunID: "sentat"})
	for _, raw := range without {
		_, ok := sentAt(t, raw)
		require.False(t, ok, "no sent_at unless asked for: %s", raw)
	}
}

func TestPublishStampsSentAt(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	events, unique := Generate(Plan{Events: 3000, DupRate: 0.3, Seed: 5, RunID: "stamp", SentAtField: true})
	originals := make([]string, len(events))
	for i, e := range events {
		originals[i] = string(e)
	}

	before := time.Now()
	res, err := NewClient(fake.URL, "").Publish(context.Background(), events, PublishOptions{
		BatchSize: 100, Concurrency: 3, StampSentAt: true,
	})
	after := time.Now()
	require.NoError(t, err)
	require.Equal(t, 3000, res.Sent)

	stamps := map[string]string{} // event_id → sent_at
	for _, req := range fake.Accepted() {
		for _, raw := range req {
			v, ok := sentAt(t, raw)
			require.True(t, ok)
			require.Len(t, v, len(sentAtZero), "stamps have the placeholder's width")
			ts, err := time.Parse(time.RFC3339Nano, v)
			require.NoError(t, err)
			require.False(t, ts.Before(before.Truncate(time.Microsecond)) || ts.After(after), "stamp %s lies within the run", v)
			var e decoded
			require.NoError(t, json.Unmarshal(raw, &e))
			if prev, seen := stamps[e.EventID]; seen {
				require.Equal(t, prev, v, "a duplicate carries its original's first send time")
			}
			stamps[e.EventID] = v
			require.Equal(t, strings.Replace(string(raw), v, sentAtZero, 1), originalOf(t, originals, e.EventID),
				"only the stamp differs from the generated event")
		}
	}
	require.Len(t, stamps, unique)
	st, err := NewClient(fake.URL, "").Stats(context.Background()) // the fake consumes on GET /stats
	require.NoError(t, err)
	require.Zero(t, st.PayloadConflicts, "duplicates stay byte-identical to their originals")
	require.Equal(t, int64(3000-unique), st.DuplicateDropped)

	for i, e := range events {
		require.Equal(t, originals[i], string(e), "Publish leaves the events it is given alone")
	}
}

// originalOf finds the generated event with this event_id.
func originalOf(t *testing.T, originals []string, eventID string) string {
	t.Helper()
	for _, o := range originals {
		if strings.Contains(o, `"event_id":"`+eventID+`"`) {
			return o
		}
	}
	t.Fatalf("no generated event has event_id %q", eventID)
	return ""
}

func TestPublishWithoutStampKeepsThePlaceholder(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	events, _ := Generate(Plan{Events: 50, Seed: 1, RunID: "nostamp", SentAtField: true})
	_, err := NewClient(fake.URL, "").Publish(context.Background(), events, PublishOptions{BatchSize: 20})
	require.NoError(t, err)
	for _, req := range fake.Accepted() {
		for _, raw := range req {
			v, ok := sentAt(t, raw)
			require.True(t, ok)
			require.Equal(t, sentAtZero, v)
		}
	}
}

func TestStampLeavesOtherEventsAlone(t *testing.T) {
	t.Parallel()
	batch := []json.RawMessage{
		[]byte(`{"a":1}`),
		[]byte(`{"payload":{` + sentAtPlaceholder + `}}`),
		[]byte(`{"b":"` + sentAtZero + `"}`),
	}
	body := encodeBatch(batch)
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("", 3600))
	newSentAtStamper().stamp(body, batch, at)
	require.Equal(t, `{"events":[{"a":1},{"payload":{"sent_at":"2026-11-25T09:00:00.123456789Z"}},{"b":"`+sentAtZero+`"}]}`, string(body))
}
