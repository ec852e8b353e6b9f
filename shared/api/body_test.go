package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestPublishReadsGzipBodies(t *testing.T) {
	t.Parallel()
	two := oneEvent + "\n" + strings.Replace(oneEvent, "evt-1", "evt-2", 1) + "\n"
	cases := []struct {
		name, coding, ctype string
		body                []byte
		status, queued      int
		wantError           string
	}{
		{name: "gzip", coding: "gzip", body: gzipped(t, []byte(oneEvent)), status: 202, queued: 1},
		{name: "x-gzip", coding: "x-gzip", body: gzipped(t, []byte(oneEvent)), status: 202, queued: 1},
		{name: "gzip in capitals", coding: "GZIP", body: gzipped(t, []byte(oneEvent)), status: 202, queued: 1},
		{name: "gzip NDJSON", coding: "gzip", ctype: "application/x-ndjson", body: gzipped(t, []byte(two)), status: 202, queued: 2},
		{name: "identity", coding: "identity", body: []byte(oneEvent), status: 202, queued: 1},
		{name: "brotli", coding: "br", body: []byte(oneEvent), status: 415, wantError: `Content-Encoding "br" is not supported`},
		{name: "deflate", coding: "deflate", body: []byte(oneEvent), status: 415, wantError: "'Content-Encoding: gzip'"},
		{name: "gzip twice", coding: "gzip, gzip", body: gzipped(t, gzipped(t, []byte(oneEvent))), status: 415, wantError: `"gzip, gzip"`},
		{name: "not gzip at all", coding: "gzip", body: []byte(oneEvent), status: 400, wantError: "not valid gzip"},
		{name: "cut short", coding: "gzip", body: gzipped(t, []byte(oneEvent))[:30], status: 400, wantError: "not valid gzip"},
		{name: "empty", coding: "gzip", body: nil, status: 400, wantError: "not valid gzip"},
		{name: "gzip of malformed JSON", coding: "gzip", body: gzipped(t, []byte(`{"events":[`)), status: 400, wantError: "malformed JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			rec := h.do(t, "POST", "/publish", tc.ctype, string(tc.body), "Content-Encoding", tc.coding)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, tc.queued, h.queue.count())
			if tc.wantError != "" {
				require.Contains(t, decodeBody(t, rec)["error"], tc.wantError)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A small gzip body that decompresses to far more than the limit is a 413
// once the limit is passed: the rest is neither read nor decompressed, and
// no more than the limit is ever held (a budget of exactly the limit is
// enough).
func TestGzipBombIsCutAtTheLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	bomb := gzipped(t, make([]byte, 20<<20))
	require.Less(t, len(bomb), limit, "the compressed body is within the limit")
	h := newHarness(t, func(d *Deps) { d.MaxBodyBytes, d.InflightBodyBytes = limit, limit })

	wire := &countingReader{r: bytes.NewReader(bomb)}
	req := httptest.NewRequest("POST", "/publish", wire)
	req.ContentLength = int64(len(bomb))
	req.Header.Set("Content-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)

	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Body.String())
	require.Contains(t, decodeBody(t, rec)["error"], fmt.Sprintf("over the limit of %d bytes", limit))
	require.Less(t, wire.n.Load(), int64(len(bomb))/2, "reading stopped soon after the limit")
	requireBudgetFree(t, h.srv, limit)
}

// requireBudgetFree checks that every byte of the in-flight budget is back.
func requireBudgetFree(t *testing.T, srv *Server, budget int64) {
	t.Helper()
	require.True(t, srv.inflight.TryAcquire(budget), "the in-flight budget is not all back")
	srv.inflight.Release(budget)
}

// rawExchange sends raw request bytes to url's server and reads the first
// response, waiting at most wait.
func rawExchange(t *testing.T, url, request string, wait time.Duration) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(wait)))
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp, conn
}

// A request that declares a body over the limit is answered 413 at once:
// net/http sends `100 Continue` when the handler first reads the body, so
// a client that waits for it never sends the 100 MB.
func TestDeclaredOversizeBodyIsRefusedBeforeContinue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	srv := httptest.NewServer(h.srv)
	t.Cleanup(srv.Close)
	for _, coding := range []string{"", "Content-Encoding: gzip\r\n"} {
		resp, _ := rawExchange(t, srv.URL, "POST /publish HTTP/1.1\r\nHost: logagg\r\nContent-Type: application/json\r\n"+coding+
			"Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n", 10*time.Second)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%q: no 100 Continue first", coding)
		var body errorBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Contains(t, body.Error, "over the limit of 4096 bytes")
		require.True(t, resp.Close, "the connection is not kept for a body never read")
	}
	require.Zero(t, h.queue.count())
}

// trickle sends a POST with a body of n bytes to path, one byte every
// 60 ms (over a minute for the whole of it), with the extra header lines,
// and reads the answer. The wait is a bound on the server's behaviour:
// without a body deadline the answer would come only once the client is
// done.
func trickle(t *testing.T, url, path string, n int, header string) *http.Response {
	t.Helper()
	body := `[` + strings.Repeat(" ", n-2) + `]`
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: logagg\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n",
		path, header, len(body))
	require.NoError(t, err)
	go func() {
		tick := time.NewTicker(60 * time.Millisecond)
		defer tick.Stop()
		for i := range len(body) {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			<-tick.C
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "no answer while the body trickles")
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// A body that trickles in is cut off once BodyReadTimeout has passed since
// the request's headers came in, and so is one that a handler does not read
// (net/http reads what is left before it answers).
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	serve := func(keys ...string) (harness, string) {
		h := newHarness(t, func(d *Deps) { d.BodyReadTimeout, d.APIKeys = 300*time.Millisecond, keys })
		srv := httptest.NewServer(h.srv)
		t.Cleanup(srv.Close)
		return h, srv.URL
	}
	h, url := serve()
	resp := trickle(t, url, "/publish", 1000, "")
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	var e errorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Contains(t, e.Error, "did not arrive within 300ms")
	require.True(t, resp.Close, "the rest of the body is not waited for")
	require.Zero(t, h.queue.count())

	h, url = serve("k")
	resp = trickle(t, url, "/publish", 1000, "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.True(t, resp.Close)
	require.Zero(t, h.queue.count())
}

// Once the body is in, its deadline is gone: publishing may take longer.
func TestPublishMayTakeLongerThanTheBodyDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.BodyReadTimeout = 200 * time.Millisecond })
	srv := httptest.NewServer(h.srv)
	t.Cleanup(srv.Close)
	h.queue.setDelay(time.Second)
	res, err := http.Post(srv.URL+"/publish", "application/json", strings.NewReader(oneEvent))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	require.Equal(t, 1, h.queue.count())
}

// pipeRequest is a publish request whose body the test writes as it goes,
// served in the background.
type pipeRequest struct {
	body *io.PipeWriter
	rec  *httptest.ResponseRecorder
	done chan struct{}
}

func startPipeRequest(t *testing.T, h harness, contentLength int64) *pipeRequest {
	t.Helper()
	pr, pw := io.Pipe()
	req := httptest.NewRequest("POST", "/publish", pr)
	req.ContentLength = contentLength
	p := &pipeRequest{body: pw, rec: httptest.NewRecorder(), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		h.srv.ServeHTTP(p.rec, req)
		_ = pr.Close()
	}()
	return p
}

// finish sends the rest of the body and waits for the answer.
func (p *pipeRequest) finish(t *testing.T, rest string) *httptest.ResponseRecorder {
	t.Helper()
	_, err := io.WriteString(p.body, rest)
	require.NoError(t, err)
	require.NoError(t, p.body.Close())
	<-p.done
	return p.rec
}

// padded is oneEvent followed by spaces, n bytes in all.
func padded(n int) string { return oneEvent + strings.Repeat(" ", n-len(oneEvent)) }

// The bytes of bodies held at once are bounded: a request that would take
// more is a 503 with Retry-After, and every path gives its bytes back.
func TestInflightBodyBudget(t *testing.T) {
	t.Parallel()
	const budget = 4096
	h := newHarness(t, func(d *Deps) { d.MaxBodyBytes, d.InflightBodyBytes = budget, budget })

	slow := startPipeRequest(t, h, 4000)
	_, err := io.WriteString(slow.body, "[") // read: its 4000 bytes are taken
	require.NoError(t, err)

	for _, tc := range []struct{ name, coding, body string }{
		{"declared length", "", padded(200)},
		{"chunked", "", "\n" + oneEvent},
		{"gzip", "gzip", string(gzipped(t, []byte(oneEvent)))},
	} {
		req := httptest.NewRequest("POST", "/publish", io.MultiReader(strings.NewReader(tc.body)))
		if tc.name == "declared length" {
			req.ContentLength = int64(len(tc.body))
		}
		if tc.coding != "" {
			req.Header.Set("Content-Encoding", tc.coding)
		}
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s: %s", tc.name, rec.Body.String())
		require.Equal(t, "5", rec.Header().Get("Retry-After"), tc.name)
		require.Contains(t, decodeBody(t, rec)["error"], "as many request bodies as it may at once", tc.name)
	}

	rec := slow.finish(t, padded(3998)+"]")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	requireBudgetFree(t, h.srv, budget)
	require.Equal(t, http.StatusAccepted, h.do(t, "POST", "/publish", "", padded(budget)).Code, "a body of the whole budget fits again")
}

func TestInflightBodyBudgetIsGivenBackOnEveryPath(t *testing.T) {
	t.Parallel()
	const budget = 4096
	cases := []struct {
		name   string
		send   func(t *testing.T, h harness) int
		status int
	}{
		{"accepted", func(t *testing.T, h harness) int { return h.do(t, "POST", "/publish", "", oneEvent).Code }, 202},
		{"declared over the limit", func(t *testing.T, h harness) int {
			return h.do(t, "POST", "/publish", "", strings.Repeat(" ", budget+1)).Code
		}, 413},
		{"chunked over the limit", func(t *testing.T, h harness) int {
			req := httptest.NewRequest("POST", "/publish", io.MultiReader(strings.NewReader(strings.Repeat(" ", budget+1))))
			rec := httptest.NewRecorder()
			h.srv.ServeHTTP(rec, req)
			return rec.Code
		}, 413},
		{"bad gzip", func(t *testing.T, h harness) int {
			return h.do(t, "POST", "/publish", "", "not gzip", "Content-Encoding", "gzip").Code
		}, 400},
		{"malformed JSON", func(t *testing.T, h harness) int { return h.do(t, "POST", "/publish", "", `{"events":[`).Code }, 400},
		{"invalid event", func(t *testing.T, h harness) int { return h.do(t, "POST", "/publish", "", `{"topic":""}`).Code }, 422},
		{"queue down", func(t *testing.T, h harness) int {
			h.queue.err = errors.New("down")
			return h.do(t, "POST", "/publish", "", oneEvent).Code
		}, 500},
		{"client gone in the middle of the body", func(t *testing.T, h harness) int {
			p := startPipeRequest(t, h, 1000)
			_, err := io.WriteString(p.body, "[")
			require.NoError(t, err)
			p.body.CloseWithError(io.ErrUnexpectedEOF)
			<-p.done
			return p.rec.Code
		}, statusClientClosed},
		{"replay", func(t *testing.T, h harness) int {
			return h.do(t, "POST", "/deadletters/replay", "application/json", `{"all":true}`).Code
		}, 200},
		{"replay malformed", func(t *testing.T, h harness) int {
			return h.do(t, "POST", "/deadletters/replay", "application/json", `{"ids":`).Code
		}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(d *Deps) {
				d.MaxBodyBytes, d.InflightBodyBytes = budget, budget
				withDeadLetters(newFakeDeadLetters("not json"))(d)
			})
			require.Equal(t, tc.status, tc.send(t, h))
			requireBudgetFree(t, h.srv, budget)
		})
	}
}
