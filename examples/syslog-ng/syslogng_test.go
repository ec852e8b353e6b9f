// Package syslogng_test runs the example configuration logagg.conf with a
// real syslog-ng against a real localrun, and checks that what syslog-ng's
// retries and restarts resend is stored once.
package syslogng_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
	"github.com/logagg/logagg/internal/proc"
	"github.com/logagg/logagg/internal/testenv"
)

const (
	apiKey = "syslog-ng-test-key"
	// waitFor bounds every wait on syslog-ng or logagg.
	waitFor = 30 * time.Second
)

// syslogNG runs the example configuration in the foreground, with its
// persist file, control socket, pid file and disk buffer in dir, so that a
// restart finds the state the previous run left.
type syslogNG struct {
	t   *testing.T
	bin string
	dir string
	env map[string]string
	p   *proc.Process
}

func newSyslogNG(t *testing.T, logaggURL, file string) *syslogNG {
	t.Helper()
	testenv.SkipShort(t, "syslog-ng")
	bin, err := exec.LookPath("syslog-ng")
	if err != nil {
		bin = "/usr/sbin/syslog-ng" // outside root's PATH on Debian
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("syslog-ng is not installed (run `make syslog-ng`, which `make test` does): %v", err)
	}
	dir := t.TempDir()
	buffers := filepath.Join(dir, "buffer")
	require.NoError(t, os.Mkdir(buffers, 0o755))
	return &syslogNG{t: t, bin: bin, dir: dir, env: map[string]string{
		"LOGAGG_URL":        logaggURL,
		"LOGAGG_API_KEY":    apiKey,
		"LOGAGG_FILE":       file,
		"LOGAGG_BUFFER_DIR": buffers,
	}}
}

func (s *syslogNG) start() {
	s.t.Helper()
	conf, err := filepath.Abs("logagg.conf")
	require.NoError(s.t, err)
	s.p = testenv.Start(s.t, s.bin, s.env, "--foreground", "--stderr", "--no-caps",
		"--cfgfile", conf,
		"--persist-file", filepath.Join(s.dir, "syslog-ng.persist"),
		"--control", filepath.Join(s.dir, "syslog-ng.ctl"),
		"--pidfile", filepath.Join(s.dir, "syslog-ng.pid"))
	// It answers on its control socket once its configuration is running.
	require.NoError(s.t, proc.Await(context.Background(), s.p, waitFor, func(context.Context) bool {
		_, err := s.stats()
		return err == nil
	}), s.p.Output())
}

// stop ends syslog-ng with sig and waits for it to exit.
func (s *syslogNG) stop(sig syscall.Signal) {
	s.t.Helper()
	require.NoError(s.t, s.p.Signal(sig))
	err := s.p.Wait(waitFor)
	if sig == syscall.SIGTERM {
		require.NoError(s.t, err, "syslog-ng exits 0 on SIGTERM:\n%s", s.p.Output())
	} else {
		require.True(s.t, s.p.Exited(), "syslog-ng ended by %s", sig)
	}
}

// stats returns syslog-ng's counters, keyed by "component;id;instance;type".
func (s *syslogNG) stats() (map[string]int64, error) {
	ctl := filepath.Join(filepath.Dir(s.bin), "syslog-ng-ctl")
	out, err := exec.Command(ctl, "stats", "--control", filepath.Join(s.dir, "syslog-ng.ctl")).Output()
	if err != nil {
		return nil, err
	}
	counters := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ";")
		if len(f) != 6 {
			continue
		}
		n, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			continue // the header line
		}
		counters[strings.Join([]string{f[0], f[1], f[2], f[4]}, ";")] = n
	}
	return counters, nil
}

// waitQueued waits until the http() destination holds at least n messages
// that logagg has not taken: they are in its disk buffer, being retried.
func (s *syslogNG) waitQueued(n int64) {
	s.t.Helper()
	var last map[string]int64
	require.Eventually(s.t, func() bool {
		st, err := s.stats()
		if err != nil {
			return false
		}
		last = st
		for k, v := range st {
			if strings.HasPrefix(k, "dst.http;d_logagg#") && strings.HasSuffix(k, ";queued") && v >= n {
				return true
			}
		}
		return false
	}, waitFor, 50*time.Millisecond, "syslog-ng queues %d messages for logagg; counters %v", n, last)
}

// lossyProxy forwards requests to logagg and, while lose is above zero,
// closes the connection instead of answering: logagg has queued the batch,
// and syslog-ng, seeing no answer, sends it again.
type lossyProxy struct {
	lose       atomic.Int64 // responses still to lose
	lost       atomic.Int64 // responses lost so far
	lostEvents atomic.Int64 // events queued by the requests whose response was lost
	url        string
}

func newLossyProxy(t *testing.T, target string) *lossyProxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	forward := httputil.NewSingleHostReverseProxy(u)
	p := &lossyProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.lose.Add(-1) < 0 {
			p.lose.Add(1)
			forward.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted {
			p.lose.Add(1) // nothing was queued: lose the next answer instead
			w.WriteHeader(rec.Code)
			return
		}
		var accepted struct{ Queued int64 }
		_ = json.Unmarshal(rec.Body.Bytes(), &accepted)
		p.lostEvents.Add(accepted.Queued)
		p.lost.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// logFile is the file syslog-ng tails; it remembers every line written.
type logFile struct {
	t     *testing.T
	path  string
	lines []string
}

func (f *logFile) write(lines ...string) {
	f.t.Helper()
	file, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	require.NoError(f.t, err)
	for _, l := range lines {
		_, err := file.WriteString(l + "\n")
		require.NoError(f.t, err)
	}
	require.NoError(f.t, file.Close())
	f.lines = append(f.lines, lines...)
}

// numbered returns n distinct lines named after phase.
func numbered(phase string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s line %d", phase, i+1)
	}
	return lines
}

// logagg is one localrun process, stopped and started again on the same
// database, stream and port.
type logagg struct {
	t   *testing.T
	bin string
	env map[string]string
	url string
	p   *proc.Process
}

func newLogagg(t *testing.T) *logagg {
	t.Helper()
	bin := testenv.Build(t, "./localrun")
	redisURL, prefix := testenv.NewRedisPrefix(t)
	port := strconv.Itoa(testenv.FreePort(t))
	return &logagg{t: t, bin: bin, url: "http://127.0.0.1:" + port, env: map[string]string{
		"DATABASE_URL": testenv.NewDatabase(t),
		"REDIS_URL":    redisURL,
		"STREAM_NAME":  prefix + "events",
		"PORT":         port,
		"API_KEYS":     apiKey,
		"LOG_LEVEL":    "warn",
	}}
}

func (l *logagg) start() {
	l.t.Helper()
	l.p = testenv.Start(l.t, l.bin, l.env)
	testenv.WaitHealthy(l.t, l.url, l.p, waitFor)
}

func (l *logagg) stop() {
	l.t.Helper()
	require.NoError(l.t, l.p.Stop(waitFor), "localrun exits 0 on SIGTERM:\n%s", l.p.Output())
}

// waitStored waits until every line written is stored, at least resent
// duplicates were dropped, and the queue has drained, and returns the
// counters then.
func (l *logagg) waitStored(written int, resent int64) loadgen.Stats {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, _, err := loadgen.NewClient(l.url, apiKey).WaitFor(ctx, func(s loadgen.Stats) bool {
		return s.UniqueProcessed >= int64(written) && s.DuplicateDropped >= resent && s.Queued == 0
	})
	require.NoError(l.t, err, "logagg stores the %d lines written and drops %d resent; last stats %+v", written, resent, st)
	return st
}

// storedMessages returns each stored event's payload.message, with how
// often it occurs, after checking the event's other fields.
func (l *logagg) storedMessages() map[string]int {
	l.t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.url+"/events?topic=syslog&limit=1000", nil)
	require.NoError(l.t, err)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(l.t, err)
	defer resp.Body.Close()
	require.Equal(l.t, http.StatusOK, resp.StatusCode)
	var events []struct {
		EventID   string `json:"event_id"`
		Source    string `json:"source"`
		Timestamp string `json:"timestamp"`
		Payload   struct {
			Message string `json:"message"`
		} `json:"payload"`
	}
	require.NoError(l.t, json.NewDecoder(resp.Body).Decode(&events))
	host, err := os.Hostname()
	require.NoError(l.t, err)
	messages := map[string]int{}
	for _, e := range events {
		require.NotEmpty(l.t, e.EventID)
		require.Equal(l.t, host, e.Source, "source is the host")
		_, err := time.Parse(time.RFC3339, e.Timestamp)
		require.NoError(l.t, err, "timestamp")
		messages[e.Payload.Message]++
	}
	return messages
}

func TestSyslogNGStoresEveryLineOnceThroughRetriesAndRestarts(t *testing.T) {
	t.Parallel()
	server := newLogagg(t)
	file := &logFile{t: t, path: filepath.Join(t.TempDir(), "app.log")}
	shipper := newSyslogNG(t, server.url, file.path)
	server.start()
	shipper.start()

	// Two identical lines are two events; quotes, backslashes and non-ASCII
	// text must reach logagg as they were written.
	file.write(`same line`, `same line`, `quoted "text" with a \ backslash`, `non-ASCII: é ü 日本`)
	file.write(numbered("first", 10)...)
	server.waitStored(len(file.lines), 0)

	// logagg is down: syslog-ng keeps the lines in its disk buffer and
	// retries the refused connection until logagg is back.
	server.stop()
	file.write(numbered("while logagg is down", 10)...)
	shipper.waitQueued(10)
	server.start()
	server.waitStored(len(file.lines), 0)

	// syslog-ng restarts, gracefully and with kill -9, while its disk buffer
	// holds lines for a logagg that is down, and lines are written while it
	// is stopped and after it is back: the reliable disk buffer has what it
	// had read, and the file source resumes where it stopped.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		server.stop()
		file.write(numbered("before syslog-ng's "+sig.String(), 10)...)
		shipper.waitQueued(10)
		shipper.stop(sig)
		file.write(numbered("while syslog-ng is stopped by "+sig.String(), 10)...)
		shipper.start()
		server.start()
		file.write(numbered("after syslog-ng's "+sig.String(), 10)...)
		server.waitStored(len(file.lines), 0)
	}

	// logagg queues batches whose answer never reaches syslog-ng, which
	// sends them again: the same lines with the same event_ids. syslog-ng
	// restarts to send through the proxy, keeping its disk buffer.
	proxy := newLossyProxy(t, server.url)
	shipper.stop(syscall.SIGTERM)
	shipper.env["LOGAGG_URL"] = proxy.url
	proxy.lose.Store(3)
	shipper.start()
	for i := range 3 {
		file.write(numbered(fmt.Sprintf("answer lost %d", i+1), 5)...)
		require.Eventually(t, func() bool { return proxy.lost.Load() > int64(i) }, waitFor, 20*time.Millisecond,
			"a batch sent through the proxy")
	}
	require.Positive(t, proxy.lostEvents.Load())
	st := server.waitStored(len(file.lines), proxy.lostEvents.Load())

	written := map[string]int{}
	for _, l := range file.lines {
		written[l]++
	}
	require.Equal(t, 2, written["same line"])
	require.Equal(t, written, server.storedMessages(), "every line stored once, the repeated line twice")
	require.Equal(t, int64(len(file.lines)), st.UniqueProcessed, "unique_processed is the lines written")
	require.Equal(t, st.Received, st.UniqueProcessed+st.DuplicateDropped)
	require.Zero(t, st.DeadLettered)
	require.GreaterOrEqual(t, st.DuplicateDropped, proxy.lostEvents.Load(), "the batches whose answer was lost came again")
	t.Logf("%d lines; logagg received %d events, dropped %d duplicates", len(file.lines), st.Received, st.DuplicateDropped)
}
