package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes this API (OpenAPI 3); a test keeps it in step
// with the routes.
//
//go:embed openapi.json
var openAPIDocument []byte

//go:embed ui.html
var dashboard []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}

// ui serves the dashboard: one page that polls /stats and /topics.
func (s *Server) ui(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
	_, _ = w.Write(dashboard)
}
