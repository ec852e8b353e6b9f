package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/internal/loadgen"
)

// browserWait bounds each wait for the page to show something; the page
// polls every 2 s.
const browserWait = 30 * time.Second

// browser is one headless Chromium tab, with what the page logged.
type browser struct {
	ctx context.Context

	mu       sync.Mutex
	requests []string // URLs the page requested
	problems []string // exceptions thrown and console errors
}

// chromiumPath is Debian's chromium, which scripts/browser.sh installs, or
// CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// newBrowser starts headless Chromium with a fresh profile, a 1280×900
// window, and none of its own network traffic (which is refused here and
// would only slow it). It fails, never skips, when Chromium is missing,
// except under -short.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("the browser test needs Chromium, PostgreSQL and Redis")
	}
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("Chromium is needed for the dashboard test (run scripts/browser.sh, or set CHROMIUM): %v", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{ctx: ctx}
	// Listen starts Chromium; the tab enables the network, log and
	// runtime events itself.
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, ev.Request.URL)
		case *cdplog.EventEntryAdded:
			// Content-Security-Policy violations, such as inline code.
			if ev.Entry.Source == cdplog.EntrySourceSecurity {
				b.problems = append(b.problems, "security: "+ev.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				b.problems = append(b.problems, "exception: "+d.Exception.Description)
			} else {
				b.problems = append(b.problems, "exception: "+d.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problems = append(b.problems, "console.error: "+strings.Join(args, " "))
			}
		}
	})
	require.NoError(t, err, "start Chromium")
	b.do(t, chromedp.EmulateViewport(1280, 900))
	return b
}

// do runs steps in the tab, bounded by browserWait.
func (b *browser) do(t require.TestingT, steps ...chromedp.Action[chromedp.Void]) {
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t require.TestingT, b *browser, expr string) T {
	ctx, cancel := context.WithTimeout(b.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

func (b *browser) text(t require.TestingT, id string) string {
	return eval[string](t, b, fmt.Sprintf("document.getElementById(%q).textContent", id))
}

func (b *browser) hasClass(t require.TestingT, id, class string) bool {
	return eval[bool](t, b, fmt.Sprintf("document.getElementById(%q).classList.contains(%q)", id, class))
}

// requested lists the URLs the page requested that contain part.
func (b *browser) requested(part string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.requests {
		if strings.Contains(u, part) {
			out = append(out, u)
		}
	}
	return out
}

func (b *browser) loggedProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// eventually polls check until it passes or browserWait passes.
func eventually(t *testing.T, check func(c *assert.CollectT), msg string) {
	t.Helper()
	require.EventuallyWithT(t, check, browserWait, 100*time.Millisecond, msg)
}

// shownNumber reads a counter as the page shows it ("20,000"), or -1 for
// "—".
func shownNumber(t require.TestingT, b *browser, id string) int64 {
	s := strings.ReplaceAll(b.text(t, id), ",", "")
	if s == "—" {
		return -1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "%s shows %q", id, s)
	return n
}

// TestDashboardInChromium drives the dashboard in headless Chromium against
// a real localrun with API_KEYS set: the page loads without a key, asks for
// one, names a wrong one, and then shows what the API says.
func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	const key = "dashboard-key"
	env := serviceEnv(t)
	env["API_KEYS"] = "other-key," + key
	url := startInProcess(t, env)

	// The page and its files need no key; the data does.
	for _, path := range []string{"/ui", "/ui/app.js", "/ui/app.css"} {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s without a key", path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", path)
	}
	resp, err := http.Get(url + "/stats")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "GET /stats without a key")

	keyTaken := t.Run("asks for the key and names a wrong one", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"/ui"), chromedp.WaitVisible(chromedp.CSS("#keybox.show")))
		require.False(t, b.hasClass(t, "keybox", "refused"), "no key was given yet")
		require.Contains(t, b.text(t, "key-hint"), "API_KEYS")

		b.do(t, chromedp.SendKeys(chromedp.ID("key"), "not-a-key"), chromedp.Click(chromedp.CSS("#keyform button")))
		eventually(t, func(c *assert.CollectT) {
			require.True(c, b.hasClass(c, "keybox", "refused"))
			require.Contains(c, b.text(c, "key-hint"), "refused")
		}, "a wrong key is named as refused")
		require.True(t, b.hasClass(t, "keybox", "show"), "and the page asks again")
		require.Equal(t, "API key refused", b.text(t, "status"))

		b.do(t, chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Click(chromedp.CSS("#keyform button")))
		eventually(t, func(c *assert.CollectT) {
			require.Equal(c, "healthy", b.text(c, "status"))
			require.False(c, b.hasClass(c, "keybox", "show"))
		}, "the right key is taken")
		require.Equal(t, key, eval[string](t, b, `sessionStorage.getItem("logagg.apiKey")`), "the key is kept for the tab")
		require.Zero(t, eval[int](t, b, `localStorage.length`), "and not for good")

		// The tab keeps the key across a reload.
		b.do(t, chromedp.Reload())
		eventually(t, func(c *assert.CollectT) {
			require.Equal(c, "healthy", b.text(c, "status"))
		}, "the reloaded page reads the API with the kept key")
		require.False(t, b.hasClass(t, "keybox", "show"))
	})
	require.True(t, keyTaken, "the rest needs the key taken")

	// 3,000 events in 25 topics, then one in a topic whose name sorts last.
	c := loadgen.NewClient(url, key)
	events, _ := loadgen.Generate(loadgen.Plan{Events: 3000, DupRate: 0.25, Topics: 25, Seed: 11})
	_, err = c.Publish(context.Background(), events, loadgen.PublishOptions{BatchSize: 250, Concurrency: 2})
	require.NoError(t, err)
	drained(t, c, 3000)
	latest := json.RawMessage(`{"topic":"zz.latest","event_id":"last","timestamp":"2026-11-25T10:00:00Z","source":"dashboard-test","payload":{"note":"the most recently active topic"}}`)
	_, err = c.Publish(context.Background(), []json.RawMessage{latest}, loadgen.PublishOptions{})
	require.NoError(t, err)
	drained(t, c, 3001)
	st, err := c.Stats(context.Background())
	require.NoError(t, err)

	t.Run("shows the numbers /stats gives", func(t *testing.T) {
		want := map[string]int64{
			"received": st.Received, "unique_processed": st.UniqueProcessed, "duplicate_dropped": st.DuplicateDropped,
			"published": st.Published, "queued": st.Queued, "dead_lettered": st.DeadLettered, "topics": st.Topics,
			"payload_conflicts": st.PayloadConflicts,
		}
		eventually(t, func(c *assert.CollectT) {
			for id, n := range want {
				require.Equal(c, n, shownNumber(c, b, id), id)
			}
		}, "the page shows /stats")
		require.True(t, b.hasClass(t, "check-received", "ok"), b.text(t, "check-received"))
		require.True(t, b.hasClass(t, "check-published", "ok"), b.text(t, "check-published"))
		require.Contains(t, b.text(t, "check-published"), fmt.Sprintf("%s = %s + %s",
			thousands(st.Published), thousands(st.Received), thousands(st.DeadLettered)))
	})

	t.Run("charts the flow", func(t *testing.T) {
		eventually(t, func(c *assert.CollectT) {
			for _, id := range []string{"chart-rate", "chart-queued"} {
				n := eval[int](c, b, fmt.Sprintf("Number(document.getElementById(%q).dataset.points)", id))
				drawn := eval[string](c, b, fmt.Sprintf("document.getElementById(%q).getAttribute('points')", id))
				require.GreaterOrEqual(c, n, 2, id)
				require.Len(c, strings.Fields(drawn), n, "%s draws a point per sample", id)
			}
			peak := eval[float64](c, b, `Number(document.getElementById("chart-rate").dataset.max)`)
			require.Positive(c, peak, "the events received show in the rate")
		}, "the chart has drawn points")
	})

	const topicNames = `Array.from(document.querySelectorAll("#topic-rows tr td:first-child")).map(td => td.textContent)`
	t.Run("lists the most recently active topics, with a filter", func(t *testing.T) {
		eventually(t, func(c *assert.CollectT) {
			rows := eval[[]string](c, b, topicNames)
			require.Len(c, rows, 20, "one page of topics")
			require.Equal(c, "zz.latest", rows[0], "most recently active first")
		}, "20 topics, most recently active first")
		asked := b.requested("/topics")
		require.NotEmpty(t, asked)
		for _, u := range asked {
			require.Contains(t, u, "/topics?order=recent&limit=20", "the page asks for one page, not all topics")
		}

		b.do(t, chromedp.SendKeys(chromedp.ID("topic-filter"), "TOPIC-07"))
		eventually(t, func(c *assert.CollectT) {
			require.Equal(c, []string{"loadgen.topic-07"}, eval[[]string](c, b, topicNames))
		}, "the filter keeps the matching topic")
		require.NotEmpty(t, b.requested("&contains=TOPIC-07"), "the filter is sent to the API")
	})

	t.Run("gives the payload room at 1280 px", func(t *testing.T) {
		require.Equal(t, 1280, eval[int](t, b, `window.innerWidth`))
		eventually(t, func(c *assert.CollectT) {
			width := eval[float64](c, b, `Math.max(0, ...Array.from(document.querySelectorAll("#event-rows td.payload"), td => td.getBoundingClientRect().width))`)
			require.GreaterOrEqual(c, width, 200.0, "the payload cell's width in px")
		}, "the payload column is wide enough to read")
	})

	// A Redis without persistence that restarts loses the published
	// counter; deleting the counter is what the restart does to it.
	t.Run("names a lost published counter", func(t *testing.T) {
		opt, err := redis.ParseURL(env["REDIS_URL"])
		require.NoError(t, err)
		client := redis.NewClient(opt)
		defer client.Close()
		require.NoError(t, client.Del(context.Background(), env["STREAM_NAME"]+":published").Err())
		eventually(t, func(c *assert.CollectT) {
			require.True(c, b.hasClass(c, "check-published", "bad"))
			text := b.text(c, "check-published")
			require.Contains(c, text, "exceeds published by "+thousands(st.Received+st.DeadLettered))
			require.Contains(c, text, "Redis without persistence")
		}, "the check names the inconsistency and its cause")
		require.True(t, b.hasClass(t, "check-received", "ok"), "the database's counters still agree")
	})

	require.Empty(t, b.loggedProblems(), "the page ran without errors")
}

// thousands formats n as the page does (en-US).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
