package api

import (
	_ "embed"
	"net/http"
	"strings"
)

// The dashboard is one page and the script and style it loads, embedded so
// that every binary with the read API serves it. None of them holds data:
// the script reads the API with the key the person enters. So they are
// served without a key, and, with nothing inline, under a strict policy.
var (
	//go:embed ui.html
	dashboardPage []byte
	//go:embed ui.js
	dashboardScript []byte
	//go:embed ui.css
	dashboardStyle []byte
)

// dashboardFile is one of the dashboard's static files.
type dashboardFile struct {
	path, contentType string
	body              []byte
}

// dashboardFiles are served at these paths, the page's own first. The page
// refers to the others relative to /ui ("ui/app.js"), so that they resolve
// under any path prefix, such as an API Gateway stage.
var dashboardFiles = []dashboardFile{
	{"/ui", "text/html; charset=utf-8", dashboardPage},
	{"/ui/app.js", "text/javascript; charset=utf-8", dashboardScript},
	{"/ui/app.css", "text/css; charset=utf-8", dashboardStyle},
}

// dashboardPolicy lets the page load only its own files and call only its
// own API, and no other site frame it.
const dashboardPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handleDashboard registers the dashboard's files.
func (s *Server) handleDashboard() {
	for _, f := range dashboardFiles {
		s.handle("GET", f.path, func(w http.ResponseWriter, r *http.Request) {
			// /ui/ would resolve the page's relative paths one level too
			// deep; a relative redirect keeps any path prefix.
			if f.path == "/ui" && strings.HasSuffix(r.URL.Path, "/") {
				w.Header().Set("Location", "../ui")
				w.WriteHeader(http.StatusMovedPermanently)
				return
			}
			h := w.Header()
			h.Set("Content-Type", f.contentType)
			h.Set("Content-Security-Policy", dashboardPolicy)
			h.Set("X-Frame-Options", "DENY")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			_, _ = w.Write(f.body)
		})
	}
}

// isDashboardFile reports whether r reads one of the dashboard's files,
// which need no key. They are served only where the read API is.
func (s *Server) isDashboardFile(r *http.Request, path string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if _, served := s.byPath[path]; !served {
		return false
	}
	for _, f := range dashboardFiles {
		if f.path == path {
			return true
		}
	}
	return false
}
