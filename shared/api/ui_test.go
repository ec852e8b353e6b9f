package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// dashboardAssets are the files the page loads besides itself.
var dashboardAssets = []string{"/ui/app.js", "/ui/app.css"}

// TestDashboardFilesNeedNoKey checks that the page and its static files,
// which hold no data, are served without a key when API_KEYS is set (a
// browser cannot send the header when it opens /ui), and that every data
// endpoint still needs one.
func TestDashboardFilesNeedNoKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) {
		allRoutes(d)
		d.APIKeys = []string{"k"}
	})
	for _, path := range append([]string{"/ui"}, dashboardAssets...) {
		for _, method := range []string{"GET", "HEAD"} {
			rec := h.do(t, method, path, "", "")
			require.Equal(t, http.StatusOK, rec.Code, "%s %s without a key", method, path)
		}
	}
	for _, path := range []string{"/stats", "/topics", "/events", "/events/count", "/deadletters", "/",
		"/openapi.json", "/metrics", "/ui/nothing-here", "/uix", "/ui/../stats"} {
		require.Equal(t, http.StatusUnauthorized, h.do(t, "GET", path, "", "").Code, "GET %s without a key", path)
		require.Equal(t, http.StatusUnauthorized, h.do(t, "GET", path, "", "", "X-API-Key", "wrong").Code,
			"GET %s with a wrong key", path)
	}
	for _, method := range []string{"POST", "PUT", "DELETE"} {
		require.Equal(t, http.StatusUnauthorized, h.do(t, method, "/ui", "", "").Code, "%s /ui without a key", method)
	}
	require.Equal(t, http.StatusUnauthorized, h.do(t, "POST", "/publish", "application/json", oneEvent).Code)
	require.Equal(t, http.StatusOK, h.do(t, "GET", "/stats", "", "", "X-API-Key", "k").Code)
}

// TestDashboardNeedsAReader checks that a deployment without the read API
// (the publish function) serves no dashboard, and so exempts nothing.
func TestDashboardNeedsAReader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.Reader = nil })
	for _, path := range append([]string{"/ui"}, dashboardAssets...) {
		require.Equal(t, http.StatusNotFound, h.do(t, "GET", path, "", "").Code, path)
	}
	h = newHarness(t, func(d *Deps) {
		d.Reader = nil
		d.APIKeys = []string{"k"}
	})
	for _, path := range append([]string{"/ui"}, dashboardAssets...) {
		require.Equal(t, http.StatusUnauthorized, h.do(t, "GET", path, "", "").Code, path)
	}
}

func TestDashboardFilesAreServedWithTheirTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for path, ctype := range map[string]string{
		"/ui":        "text/html; charset=utf-8",
		"/ui/app.js": "text/javascript; charset=utf-8", "/ui/app.css": "text/css; charset=utf-8",
	} {
		rec := h.do(t, "GET", path, "", "")
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, ctype, rec.Header().Get("Content-Type"), path)
		require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), path)
		require.NotEmpty(t, rec.Body.String(), path)
	}
	require.Contains(t, h.do(t, "GET", "/ui", "", "").Body.String(), "<title>logagg")
}

// TestDashboardRedirectsTheSlashForm sends /ui/ to /ui, relatively, so that
// the page's relative asset paths resolve under any path prefix (an API
// Gateway stage).
func TestDashboardRedirectsTheSlashForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(d *Deps) { d.APIKeys = []string{"k"} })
	rec := h.do(t, "GET", "/ui/", "", "")
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, "../ui", rec.Header().Get("Location"))
}

// TestDashboardCannotBeFramed checks the headers that keep the page out of
// other sites' frames, and a policy that allows no inline code.
func TestDashboardCannotBeFramed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, path := range append([]string{"/ui"}, dashboardAssets...) {
		rec := h.do(t, "GET", path, "", "")
		csp := rec.Header().Get("Content-Security-Policy")
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.Contains(t, csp, "default-src 'self'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.NotContains(t, csp, "unsafe-eval", path)
		require.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"), path)
	}
}

// TestDashboardIsSelfContained checks that the page loads nothing from
// elsewhere (the CSP would block it), keeps no code or style inline, and
// calls only documented endpoints.
func TestDashboardIsSelfContained(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	page := string(dashboardPage)
	for _, external := range []string{"http://", "https://", "//cdn", "@import", "<style", "style=", "onclick", "onload"} {
		require.NotContains(t, page, external)
	}
	require.NotRegexp(t, `<script>`, page, "no inline script")
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		require.True(t, ref[1] == "" || strings.HasPrefix(ref[1], "ui/") || ref[1] == "openapi.json",
			"the page refers to %q, not to a file of its own", ref[1])
	}
	for _, asset := range dashboardAssets {
		require.Contains(t, page, `"`+strings.TrimPrefix(asset, "/")+`"`, "the page loads %s", asset)
	}
	script := string(dashboardScript)
	for _, external := range []string{"http://", "https://", "eval(", "new Function", "innerHTML", "localStorage.setItem"} {
		require.NotContains(t, script, external)
	}
	require.Contains(t, script, "sessionStorage", "the key is kept for the tab only")
	// The page calls api("stats"), api("events?limit=20"), ... relative to
	// the API's root.
	calls := regexp.MustCompile(`\bapi\("([^"?]*)`).FindAllStringSubmatch(script, -1)
	require.NotEmpty(t, calls)
	for _, c := range calls {
		path := "/" + c[1]
		item := doc.Paths.Find(path)
		require.NotNil(t, item, "the dashboard calls %s, which the document does not describe", path)
		require.NotNil(t, item.Get, "GET %s", path)
	}
	require.Contains(t, script, `api("topics?order=recent&limit="`, "the page asks for a page of topics, not all")
}
