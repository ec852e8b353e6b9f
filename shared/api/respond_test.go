package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// TestUnencodableResponseIsALogged500: encoding/json refuses a time in year
// 10000, as such a row would be; the answer must be a JSON 500 and a log
// line, not a 200 with the body cut short.
func TestUnencodableResponseIsALogged500(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h := newHarness(t, func(d *Deps) { d.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	h.reader.list = []event.StoredEvent{{ID: 1, Event: event.Event{
		Topic: "t", EventID: "e", Source: "s", Payload: json.RawMessage(`{}`),
		Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}}}

	// A full page: the paging headers would describe a body never sent.
	rec := h.do(t, "GET", "/events?limit=1", "", "")
	require.Equal(t, 500, rec.Code, rec.Body.String())
	require.Empty(t, rec.Header().Get(NextCursorHeader))
	require.Empty(t, rec.Header().Get("Link"))
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())
	require.Contains(t, logs.String(), "level=ERROR")
	require.Contains(t, logs.String(), "year outside of range")
}

// TestWriteJSONOutsideTheServer: a handler's writer that is not the
// Server's still gets the 500; the failure goes to the default logger.
func TestWriteJSONOutsideTheServer(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, map[string]any{"c": make(chan int)})
	require.Equal(t, 500, rec.Code)
	require.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	writeJSON(rec, 202, map[string]any{"queued": 1, "html": "<&>"})
	require.Equal(t, 202, rec.Code)
	require.Equal(t, "{\"html\":\"<&>\",\"queued\":1}\n", rec.Body.String(), "no HTML escaping")
}
