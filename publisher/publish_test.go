package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logagg/logagg/internal/envmap"
	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/loadgen/loadgentest"
	"github.com/logagg/logagg/internal/proc"
	"github.com/stretchr/testify/require"
)

// ndjson returns n events, one a line, of ids 0 to n-1 in topic.
func ndjson(topic string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"topic":%q,"event_id":"e-%d","timestamp":"2026-01-01T00:00:00Z","source":"s","payload":{"i":%d}}`+"\n", topic, i, i)
	}
	return b.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// runReport runs the publisher with -json and returns its report.
func runReport(t *testing.T, stdin io.Reader, args ...string) loadgen.Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "-json"), envmap.Env{}.Getenv, stdin, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	var res loadgen.Report
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	return res
}

func acceptedEvents(fake *loadgentest.Server) []string {
	var got []string
	for _, req := range fake.Accepted() {
		for _, e := range req {
			got = append(got, string(e))
		}
	}
	return got
}

func TestFileSendsNDJSONFromAFileAndFromStdin(t *testing.T) {
	t.Parallel()
	text := ndjson("orders", 25)
	want := strings.Split(strings.TrimSpace(text), "\n")
	for _, fromStdin := range []bool{false, true} {
		fake := loadgentest.New(t, loadgentest.Options{})
		args, stdin, input := []string{"-url", fake.URL, "-file", writeFile(t, "e.ndjson", text)}, io.Reader(nil), ""
		input = args[3]
		if fromStdin {
			args[3], stdin, input = "-", strings.NewReader(text), "stdin"
		}
		res := runReport(t, stdin, append(args, "-batch", "10", "-wait")...)
		require.Equal(t, input, res.Input)
		require.Equal(t, 25, res.Events)
		require.Equal(t, 25, res.Unique)
		require.Equal(t, 3, res.Requests, "batches of -batch events")
		require.ElementsMatch(t, want, acceptedEvents(fake), "every line sent once, as written")
		require.Equal(t, int64(25), res.StatsAfter.UniqueProcessed)
	}
}

func TestFileBatchesUnderBatchBytes(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	text := ndjson("t", 40) // lines of about 100 bytes
	res := runReport(t, nil, "-url", fake.URL, "-file", writeFile(t, "e.ndjson", text), "-batch-bytes", "1024")
	require.Equal(t, 40, res.Events)
	for _, req := range fake.Accepted() {
		require.LessOrEqual(t, len(`{"events":[`+string(bytes.Join(toBytes(req), []byte(",")))+`]}`), 1024)
	}
	require.GreaterOrEqual(t, res.Requests, (len(text)+1023)/1024, "no request passes 1 KiB, so it takes at least this many")
}

func toBytes(raw []json.RawMessage) [][]byte {
	out := make([][]byte, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out
}

func TestLinesResentAreStoredOnce(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	path := writeFile(t, "app.log", "started\nGET /\nGET /\n\nstopped\n")
	args := []string{"-url", fake.URL, "-lines", path, "-lines-topic", "app", "-lines-source", "web-1", "-wait"}
	first := runReport(t, nil, args...)
	require.Equal(t, 4, first.Events, "the blank line is no event; the repeated one is")
	require.Equal(t, 4, first.Unique)
	require.Equal(t, int64(4), first.StatsAfter.UniqueProcessed)

	again := runReport(t, nil, args...)
	require.Equal(t, int64(4), again.StatsAfter.UniqueProcessed, "nothing new stored")
	require.Equal(t, int64(4), again.StatsAfter.DuplicateDropped, "every line of the resend is a duplicate")
	require.Zero(t, again.StatsAfter.PayloadConflicts, "a resend carries the same payloads")

	var e struct {
		Payload struct {
			Line   string
			File   string
			Number int
		}
	}
	require.NoError(t, json.Unmarshal(fake.Accepted()[0][2], &e))
	require.Equal(t, "GET /", e.Payload.Line)
	require.Equal(t, path, e.Payload.File, "a file is named by its absolute path by default")
	require.Equal(t, 3, e.Payload.Number)
}

func TestLinesFromStdinAreNamedByLinesID(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	args := []string{"-url", fake.URL, "-lines", "-", "-lines-topic", "app", "-lines-source", "web-1", "-lines-id", "web-1:app.log", "-lines-time", "2026-11-25T10:00:00+07:00"}
	res := runReport(t, strings.NewReader("a\nb\n"), args...)
	require.Equal(t, "stdin", res.Input)
	require.Equal(t, 2, res.Events)
	var e struct {
		EventID   string `json:"event_id"`
		Timestamp string
		Payload   struct{ File string }
	}
	require.NoError(t, json.Unmarshal(fake.Accepted()[0][0], &e))
	require.Equal(t, "web-1:app.log", e.Payload.File)
	require.Equal(t, lineID("web-1:app.log", 1, []byte("a")), e.EventID)
	require.Equal(t, "2026-11-25T03:00:00Z", e.Timestamp)
}

func TestFileRetriesA503ThenSucceeds(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{Intercept: func(attempt, _ int) loadgentest.Reply {
		if attempt == 1 {
			return loadgentest.Reply{Status: http.StatusServiceUnavailable, RetryAfter: "0", Error: "queue is down"}
		}
		return loadgentest.Reply{}
	}})
	res := runReport(t, nil, "-url", fake.URL, "-file", writeFile(t, "e.ndjson", ndjson("t", 30)), "-batch", "10", "-concurrency", "1", "-wait")
	require.Equal(t, 1, res.Retries)
	require.Equal(t, 3, res.Requests)
	require.Equal(t, int64(30), res.StatsAfter.UniqueProcessed)
	require.Equal(t, []int{503, 202, 202, 202}, statuses(fake))
}

func statuses(fake *loadgentest.Server) []int {
	var s []int
	for _, a := range fake.Attempts() {
		s = append(s, a.Status)
	}
	return s
}

func TestFileNamesTheRefusedLine(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	lines := strings.Split(ndjson("t", 12), "\n")
	lines[8] = strings.Replace(lines[8], "2026-01-01T00:00:00Z", "2026-01-01 00:00", 1)
	text := "\n\n" + strings.Join(lines, "\n") // two blank lines: the bad event is on line 11
	path := writeFile(t, "e.ndjson", text)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", fake.URL, "-file", path, "-batch", "5", "-concurrency", "1"},
		envmap.Env{}.Getenv, nil, &stdout, &stderr)
	require.Error(t, err)
	var report bytes.Buffer
	require.Equal(t, 1, proc.ExitCode("publisher", err, &report), "a refusal is a failure")
	require.Contains(t, report.String(), "the request of "+path+" lines 8 to 12 was refused: POST /publish: 422 Unprocessable Entity")
	require.Contains(t, report.String(), path+" line 11: timestamp: parsing time")
	require.Empty(t, stdout.String())
	require.Len(t, acceptedEvents(fake), 5, "the batch before it was sent")
}

func TestFileShowsNoProgressBarWhenStderrIsNoTerminal(t *testing.T) {
	t.Parallel()
	fake := loadgentest.New(t, loadgentest.Options{})
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	var stdout bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-url", fake.URL, "-file", writeFile(t, "e.ndjson", ndjson("t", 50)), "-batch", "10"},
		envmap.Env{}.Getenv, nil, &stdout, stderr))
	written, err := os.ReadFile(stderr.Name())
	require.NoError(t, err)
	require.NotContains(t, string(written), "\x1b", "no escape codes")
	require.Empty(t, string(written))
	require.Contains(t, stdout.String(), "published 50 events (50 unique, 0 duplicates) from ")
}

func TestFileFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-file", "a", "-lines", "b"}, "give -file or -lines, not both"},
		{[]string{"-file", "a", "-events", "5"}, "-events shapes generated events; it does not apply to -file or -lines"},
		{[]string{"-file", "a", "-protocol", "otlp"}, "-protocol shapes generated events; it does not apply to -file or -lines"},
		{[]string{"-lines", "a", "-lines-topic", "t"}, "-lines needs -lines-topic and -lines-source"},
		{[]string{"-lines", "-", "-lines-topic", "t", "-lines-source", "s"}, "-lines - needs -lines-id"},
		{[]string{"-lines-topic", "t"}, "-lines-topic applies to -file or -lines only"},
		{[]string{"-file", "a", "-lines-id", "x"}, "-lines-id applies to -lines only"},
		{[]string{"-lines", "a", "-lines-topic", "t", "-lines-source", "s", "-lines-time", "now"}, `-lines-time "now" is not an RFC 3339 time`},
		{[]string{"-file", "a", "-batch-bytes", "10"}, "-batch-bytes must be at least 1024"},
	} {
		_, err := parseFlags(tc.args, envmap.Env{}.Getenv, &bytes.Buffer{})
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
		require.Equal(t, 2, proc.ExitCode("publisher", err, &bytes.Buffer{}))
	}
}

// stdin has no size: the bar counts bytes with a spinner, with no total to
// stop at.
func TestProgressBarCountsBytesOfStdin(t *testing.T) {
	t.Parallel()
	b := drawBar(io.Discard, -1, "publishing stdin", true)
	b.set(2_500_000)
	require.Equal(t, 2_500_000.0, b.pb.State().CurrentBytes, "the bytes read, not the spinner's width")

	b = drawBar(io.Discard, 1000, "publishing f", true)
	b.set(5000)
	require.Equal(t, 1000.0, b.pb.State().CurrentBytes, "never past the file's size")
}
