package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/testenv"
	"github.com/logagg/logagg/shared/config"
)

// The settings are environment variables; -h and --help list them all,
// with their defaults, and exit 0 without starting anything.
func TestHelpPrintsTheSettingsAndExits(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "./localrun")
	for _, arg := range []string{"-h", "--help"} {
		p := testenv.Start(t, bin, map[string]string{"DATABASE_URL": "", "REDIS_URL": ""}, arg)
		require.NoError(t, p.Wait(30*time.Second), "%s exits 0:\n%s", arg, p.Output())
		for _, s := range config.Settings() {
			require.Regexp(t, `(?m)^`+s.Name+` +`, p.Output(), "%s lists %s", arg, s.Name)
			if s.Default != "" {
				require.Regexp(t, `(?m)^`+s.Name+` +`+regexp.QuoteMeta(s.Default)+` `, p.Output(), "%s gives the default of %s", arg, s.Name)
			}
		}
	}
	p := testenv.Start(t, bin, map[string]string{"DATABASE_URL": "", "REDIS_URL": ""}, "--port=8080")
	require.Error(t, p.Wait(30*time.Second), "an unknown flag is an error")
	require.Contains(t, p.Output(), "flag provided but not defined: -port")
}

// dial opens a connection to url's server for raw requests; the deadline
// bounds how long the test waits for the server's behaviour.
func dial(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
	return conn, bufio.NewReader(conn)
}

// A real localrun cuts off clients that would hold it: idle keep-alive
// connections after IDLE_TIMEOUT, and bodies that trickle in after
// BODY_READ_TIMEOUT (both lowered here, so the test takes seconds).
func TestSlowAndIdleClientsAreCutOff(t *testing.T) {
	t.Parallel()
	env := serviceEnv(t)
	env["IDLE_TIMEOUT"], env["BODY_READ_TIMEOUT"], env["WRITE_TIMEOUT"], env["WORKER_COUNT"] = "1s", "1s", "3s", "1"
	url := startInProcess(t, env)

	// A page larger than the socket buffers hold, to a client that stops
	// reading: the server gives up on it after WRITE_TIMEOUT instead of
	// holding the page for as long as the client stalls.
	t.Run("answer nobody reads", func(t *testing.T) {
		t.Parallel()
		payload := strings.Repeat("x", 200<<10)
		const events = 150 // 30 MB, more than the sockets' buffers hold
		for i := range events {
			body := fmt.Sprintf(`{"topic":"big","event_id":"%d","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":{"x":%q}}`, i, payload)
			resp, err := http.Post(url+"/publish", "application/json", strings.NewReader(body))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
		}
		require.Eventually(t, func() bool {
			var n struct{ Count int }
			resp, err := http.Get(url + "/events/count?topic=big")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&n) == nil && n.Count == events
		}, 30*time.Second, 50*time.Millisecond)

		conn, r := dial(t, url)
		_, err := io.WriteString(conn, "GET /events?topic=big&limit=1000 HTTP/1.1\r\nHost: logagg\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			// On a busy machine reading the page from PostgreSQL may
			// itself outlast WRITE_TIMEOUT (it counts from the request's
			// headers): cut off before the first byte, which is the
			// bound too.
			require.ErrorIs(t, err, io.ErrUnexpectedEOF)
			return
		}
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		// The client stalls for longer than WRITE_TIMEOUT (the stall is
		// the behaviour under test), then reads what it can.
		time.Sleep(5 * time.Second)
		n, err := io.Copy(io.Discard, resp.Body)
		require.Error(t, err, "the whole page arrived after the client stalled")
		require.Less(t, n, int64(events*len(payload)))
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, url)
		_, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: logagg\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, resp.Close, "kept alive")
		// Then nothing: the server closes the connection.
		_, err = r.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the idle connection is still open")
	})

	t.Run("body that trickles", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, url)
		const size = 200 // at one byte every 100 ms, 20 s
		_, err := fmt.Fprintf(conn, "POST /publish HTTP/1.1\r\nHost: logagg\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", size)
		require.NoError(t, err)
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for range size - 1 {
				<-tick.C
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err, "no answer while the body trickles")
		defer resp.Body.Close()
		require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
		var body struct{ Error string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Contains(t, body.Error, "did not arrive within 1s")
	})

	// net/http lets Transfer-Encoding win over a Content-Length sent with
	// it (RFC 9112 §6.3) and drops the Content-Length before any handler
	// runs, so the request is served by its chunks and the connection
	// stays open: the README says so, and that a proxy in front must
	// normalise such requests.
	t.Run("Content-Length beside Transfer-Encoding", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, url)
		event := `{"topic":"edge","event_id":"te-1","timestamp":"2026-11-25T10:00:00Z","source":"raw"}`
		_, err := fmt.Fprintf(conn, "POST /publish HTTP/1.1\r\nHost: logagg\r\nContent-Type: application/json\r\n"+
			"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(event), event)
		require.NoError(t, err)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
		require.JSONEq(t, `{"status":"accepted","queued":1}`, string(body), "read by its chunks")
		require.False(t, resp.Close)

		_, err = io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: logagg\r\n\r\n")
		require.NoError(t, err)
		resp, err = http.ReadResponse(r, nil)
		require.NoError(t, err, "the connection is still served")
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}
