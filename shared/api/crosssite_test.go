package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/logagg/logagg/internal/proc"
	"github.com/stretchr/testify/require"
)

// A page on another site can send a POST without a preflight (a no-cors
// fetch of a Blob has no Content-Type); the browser says where it comes
// from, and those requests are refused. Clients that are not browsers send
// neither Sec-Fetch-Site nor Origin and are served as before.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	t.Parallel()
	// httptest requests are for Host example.com.
	cases := []struct {
		name    string
		header  []string
		keys    bool
		allowed bool
	}{
		{name: "curl, SDKs and shippers: neither header", allowed: true},
		{name: "same origin", header: []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"}, allowed: true},
		{name: "typed into the address bar", header: []string{"Sec-Fetch-Site", "none"}, allowed: true},
		{name: "an older browser on the same host", header: []string{"Origin", "http://example.com"}, allowed: true},
		{name: "another site", header: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{name: "another site of the same registrable domain", header: []string{"Sec-Fetch-Site", "same-site", "Origin", "https://a.example.com"}},
		{name: "an older browser on another site", header: []string{"Origin", "https://evil.example"}},
		{name: "another site, keys configured", keys: true,
			header: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example", "X-API-Key", "k"}},
		{name: "a trusted origin", header: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://ops.example.com"}, allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs *proc.Buffer
			f := newFakeDeadLetters("not json")
			h := newHarness(t, func(d *Deps) {
				logs = withLogs(d)
				withDeadLetters(f)(d)
				d.AllowedOrigins = []string{"https://ops.example.com"}
				if tc.keys {
					d.APIKeys = []string{"k"}
				}
			})
			publish := h.do(t, "POST", "/publish", "", oneEvent, tc.header...)
			replay := h.do(t, "POST", "/deadletters/replay", "application/json", `{"all":true}`, tc.header...)
			if tc.allowed {
				require.Equal(t, http.StatusAccepted, publish.Code, publish.Body.String())
				require.Equal(t, http.StatusOK, replay.Code, replay.Body.String())
				require.Equal(t, 2, h.queue.count())
				return
			}
			for _, rec := range []*httptest.ResponseRecorder{publish, replay} {
				require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
				require.Contains(t, decodeBody(t, rec)["error"], "cross-site request refused")
			}
			require.Zero(t, h.queue.count(), "nothing queued")
			require.Nil(t, f.letters[0].ReplayedAt, "nothing replayed")
			require.Contains(t, logs.String(), `"level":"DEBUG","msg":"cross-site request refused"`)
			require.NotContains(t, logs.String(), `"level":"WARN"`)
			require.NotContains(t, logs.String(), `"level":"ERROR"`)

			// Reading is not a change: a page elsewhere cannot read the
			// answer without CORS, which this API never grants.
			require.Equal(t, http.StatusOK, h.do(t, "GET", "/stats", "", "", tc.header...).Code)
		})
	}
}

func TestCrossSiteRefusalIsDocumented(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	for path, body := range map[string]string{"/publish": oneEvent, "/deadletters/replay": `{"all":true}`} {
		h := newHarness(t, allRoutes)
		rec := h.do(t, "POST", path, "application/json", body, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		require.Equal(t, http.StatusForbidden, rec.Code, path)
		validateExchange(t, doc, "POST", path, "application/json", body, rec, true)
	}
}
