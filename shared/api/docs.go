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

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
