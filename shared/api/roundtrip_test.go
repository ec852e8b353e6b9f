package api

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPublishRefusesTimestampsNoPartCanGiveBack: both are valid RFC 3339,
// but their UTC instants fall in years 10000 and -1, which /events could
// not write back.
func TestPublishRefusesTimestampsNoPartCanGiveBack(t *testing.T) {
	t.Parallel()
	for _, ts := range []string{"9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59"} {
		h := newHarness(t, nil)
		rec := h.do(t, "POST", "/publish", "application/json",
			`{"topic":"t","event_id":"1","timestamp":"`+ts+`","source":"s"}`)
		require.Equal(t, 422, rec.Code, "%s: %s", ts, rec.Body.String())
		body := decodeBody(t, rec)
		details := body["details"].([]any)
		require.Len(t, details, 1)
		detail := details[0].(map[string]any)
		require.Equal(t, "timestamp", detail["field"])
		require.Contains(t, detail["message"], "0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z")
		require.Zero(t, h.queue.count(), "nothing queued")
	}
}
