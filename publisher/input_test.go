package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readAll reads every chunk of in, chunks of at most max events.
func readAll(t *testing.T, in *input, max int) chunk {
	t.Helper()
	var all chunk
	for {
		c, err := in.next(max, 1<<20)
		if err == io.EOF {
			return all
		}
		require.NoError(t, err)
		require.LessOrEqual(t, len(c.events), max)
		all.events = append(all.events, c.events...)
		all.line = append(all.line, c.line...)
		all.bytes = append(all.bytes, c.bytes...)
	}
}

func TestInputReadsNDJSONSkippingBlankLines(t *testing.T) {
	t.Parallel()
	const text = `{"topic":"a","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"}` + "\r\n" +
		"\n   \n" +
		`{"topic":"a","event_id":"2","timestamp":"2026-01-01T00:00:00Z","source":"s"}` + "\n" +
		` {"topic":"a","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"}` // no final newline
	in := newInput("e.ndjson", strings.NewReader(text), nil)
	c := readAll(t, in, 2)
	require.Len(t, c.events, 3)
	require.Equal(t, []int{1, 4, 5}, c.line)
	require.JSONEq(t, `{"topic":"a","event_id":"2","timestamp":"2026-01-01T00:00:00Z","source":"s"}`, string(c.events[1]))
	var sum int64
	for _, n := range c.bytes {
		sum += n
	}
	require.Equal(t, int64(len(text)), sum, "every input byte is accounted to an event, blank lines included")
	require.Equal(t, 2, in.unique(), "the third event repeats the first")
}

// Editors on Windows start a UTF-8 file with a byte order mark; /publish
// skips it, and so does the publisher.
func TestInputSkipsAByteOrderMark(t *testing.T) {
	t.Parallel()
	const text = "\xEF\xBB\xBF" + `{"topic":"a","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"}` + "\n"
	c := readAll(t, newInput("e.ndjson", strings.NewReader(text), nil), 10)
	require.Len(t, c.events, 1)
	require.JSONEq(t, `{"topic":"a","event_id":"1","timestamp":"2026-01-01T00:00:00Z","source":"s"}`, string(c.events[0]))
}

func TestInputNamesTheLineThatIsNoEvent(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]string{
		"{\"topic\":\"a\"}\n\n[1,2]\n":      "e.ndjson line 3: not a JSON object",
		"{\"topic\":\"a\"}\n{\"topic\":\n":  "e.ndjson line 2: not a JSON event",
		strings.Repeat("x", maxLineBytes+1): "e.ndjson line 1 is longer than 1048576 bytes",
	} {
		in := newInput("e.ndjson", strings.NewReader(text), nil)
		var err error
		for err == nil {
			_, err = in.next(10, 1<<30)
		}
		require.ErrorContains(t, err, want)
	}
}

func TestLinesGetStableDistinctIDs(t *testing.T) {
	t.Parallel()
	const text = "GET /\nGET /\r\n\nPOST /login\n"
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("", 7*3600))
	read := func(identity string) []map[string]any {
		in := newInput("app.log", strings.NewReader(text), &lineEvents{topic: "app", source: "web-1", identity: identity, at: at})
		c := readAll(t, in, 10)
		require.Equal(t, []int{1, 2, 4}, c.line)
		require.Equal(t, 3, in.unique(), "two identical lines are two events")
		var events []map[string]any
		for _, raw := range c.events {
			var e map[string]any
			require.NoError(t, json.Unmarshal(raw, &e))
			events = append(events, e)
		}
		return events
	}
	first := read("/var/log/app.log")
	require.Equal(t, map[string]any{
		"topic": "app", "event_id": lineID("/var/log/app.log", 1, []byte("GET /")), "timestamp": "2026-11-25T03:00:00Z", "source": "web-1",
		"payload": map[string]any{"line": "GET /", "file": "/var/log/app.log", "number": 1.0},
	}, first[0])
	require.Equal(t, "GET /", first[1]["payload"].(map[string]any)["line"], "the line ending is not part of the line")
	require.NotEqual(t, first[0]["event_id"], first[1]["event_id"])
	require.Regexp(t, `^line-[0-9a-f]{32}$`, first[0]["event_id"])

	require.Equal(t, first, read("/var/log/app.log"), "the same file read again gives the same events")
	other := read("/var/log/other.log")
	require.NotEqual(t, first[0]["event_id"], other[0]["event_id"], "another file's line 1 is another event")
}

func TestLinesAreStampedWhenRead(t *testing.T) {
	t.Parallel()
	in := newInput("-", strings.NewReader("a\n"), &lineEvents{topic: "t", source: "s", identity: "id"})
	in.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC) }
	c, err := in.next(10, 1<<20)
	require.NoError(t, err)
	var e struct{ Timestamp string }
	require.NoError(t, json.Unmarshal(c.events[0], &e))
	require.Equal(t, "2026-01-02T03:04:05.000006Z", e.Timestamp, "microseconds, as the service keeps them")
}
