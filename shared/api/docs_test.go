package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/stretchr/testify/require"

	"github.com/logagg/logagg/shared/event"
)

// The validator reads bodies of a media type only through a registered
// decoder; NDJSON request bodies and the dashboard's files are described as
// plain strings, so they are read as such. Registering happens here, before
// any test runs, because the registry is global.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/javascript", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/css", openapi3filter.PlainBodyDecoder)
}

// loadOpenAPI parses and validates the embedded document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context, openapi3.EnableExamplesValidation()))
	return doc
}

// allRoutes serves every route: publish, reads, dead letters and metrics.
func allRoutes(d *Deps) {
	d.DeadLetters = newFakeDeadLetters("not json", `[{"topic":"t"}]`)
	d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, "# HELP logagg_up Whether it is up.\n# TYPE logagg_up gauge\nlogagg_up 1\n")
	})
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.Equal(t, "logagg", doc.Info.Title)
	require.Contains(t, doc.Components.SecuritySchemes, "apiKey")
	require.Contains(t, doc.Components.SecuritySchemes, "bearer")
	require.Equal(t, "X-API-Key", doc.Components.SecuritySchemes["apiKey"].Value.Name)
}

// TestOpenAPIMatchesRoutes keeps the document and the router in step: every
// route served is documented and every documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	h := newHarness(t, allRoutes)

	var served, documented []string
	for path, methods := range h.srv.Paths() {
		for _, m := range methods {
			served = append(served, m+" "+path)
		}
	}
	for path, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if m != http.MethodHead {
				documented = append(documented, m+" "+path)
			}
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	require.Equal(t, served, documented)
}

// TestOpenAPISecurity checks that every operation but /health and the
// dashboard's static files asks for a key, as the server does.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	require.Len(t, doc.Security, 2)
	public := map[string]bool{"/health": true}
	for _, f := range dashboardFiles {
		public[f.path] = true
	}
	for path, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			open := op.Security != nil && len(*op.Security) == 0
			require.Equal(t, public[path], open, "%s %s", m, path)
			if !public[path] {
				require.NotNil(t, op.Responses.Status(http.StatusUnauthorized), "%s %s documents 401", m, path)
			}
		}
	}
}

func TestDocsAndDashboardAreServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)

	rec := h.do(t, "GET", "/openapi.json", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.JSONEq(t, string(openAPIDocument), rec.Body.String())

	rec = h.do(t, "GET", "/ui", "", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'self'")
	require.Contains(t, rec.Body.String(), "<title>logagg")
}

// failingCounter is a published counter that cannot be read.
type failingCounter struct{}

func (failingCounter) Published(context.Context) (int64, error) {
	return 0, event.Errorf(event.Unavailable, "queue unavailable")
}

// TestResponsesMatchOpenAPI sends real requests and validates each request
// and response against the document, so the document cannot drift from
// what the handlers answer: an undocumented status, header or body shape
// fails here.
func TestResponsesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	two := `{"topic":"t","event_id":"2","timestamp":"2026-11-25T10:00:00+07:00","source":"s"}`
	badTime := `{"topic":"t","event_id":"x","timestamp":"yesterday","source":"s"}`
	now := time.Date(2026, 11, 25, 10, 0, 1, 250_000_000, time.UTC)
	stored := func(id int64) event.StoredEvent {
		return event.StoredEvent{ID: id, ProcessedAt: now, Event: event.Event{
			Topic: "user.login", EventID: fmt.Sprintf("evt-%d", id), Timestamp: now.Add(-time.Second),
			Source: "auth", Payload: json.RawMessage(`{"user":"ana","n":[1,2]}`),
		}}
	}

	cases := []struct {
		name         string
		method, path string
		ctype, body  string
		header       []string
		setup        func(h harness)
		mod          func(d *Deps)
		status       int
		requestValid bool // whether the document, too, accepts the request
		check        func(t *testing.T, rec *httptest.ResponseRecorder)
	}{
		{name: "publish wrapped", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"events":[` + oneEvent + `,` + two + `]}`, status: 202, requestValid: true},
		{name: "publish array", method: "POST", path: "/publish", ctype: "application/json",
			body: `[` + oneEvent + `,` + two + `]`, status: 202, requestValid: true},
		{name: "publish one event", method: "POST", path: "/publish", ctype: "application/json",
			body: oneEvent, status: 202, requestValid: true},
		{name: "publish null payload", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"topic":"t","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":null}`, status: 202, requestValid: true},
		{name: "publish ndjson", method: "POST", path: "/publish", ctype: "application/x-ndjson",
			body: oneEvent + "\n\n" + two + "\n", status: 202, requestValid: true},
		{name: "publish malformed", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"events":[`, status: 400},
		{name: "publish form type", method: "POST", path: "/publish", ctype: "application/x-www-form-urlencoded",
			body: oneEvent, status: 415},
		{name: "publish brotli", method: "POST", path: "/publish", ctype: "application/json", header: []string{"Content-Encoding", "br"},
			body: oneEvent, status: 415, requestValid: true},
		{name: "publish bodies held at once", method: "POST", path: "/publish", ctype: "application/json",
			mod: func(d *Deps) { d.InflightBodyBytes = 10 }, body: oneEvent, status: 503, requestValid: true},
		{name: "publish invalid event", method: "POST", path: "/publish", ctype: "application/json",
			body: `[` + oneEvent + `,` + badTime + `]`, status: 422,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.Contains(t, rec.Body.String(), `"field":"timestamp"`)
			}},
		{name: "publish empty topic", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"topic":"","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s"}`, status: 422},
		{name: "publish control character", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"topic":"a\u0007b","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s"}`, status: 422},
		{name: "publish payload not an object", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"topic":"t","event_id":"1","timestamp":"2026-11-25T10:00:00Z","source":"s","payload":[1]}`, status: 422},
		{name: "publish empty batch", method: "POST", path: "/publish", ctype: "application/json",
			body: `{"events":[]}`, status: 422},
		{name: "publish too many events", method: "POST", path: "/publish", ctype: "application/json",
			body: `[` + strings.Repeat(oneEvent+",", 5) + oneEvent + `]`, status: 413, requestValid: true},
		{name: "publish overloaded", method: "POST", path: "/publish", ctype: "application/json", body: oneEvent,
			setup: func(h harness) { h.queue.err = event.Errorf(event.Overloaded, "backlog full") }, status: 429, requestValid: true},
		{name: "publish queue down", method: "POST", path: "/publish", ctype: "application/json", body: oneEvent,
			setup: func(h harness) { h.queue.err = event.Errorf(event.Unavailable, "queue unavailable") }, status: 503, requestValid: true},
		{name: "publish internal error", method: "POST", path: "/publish", ctype: "application/json", body: oneEvent,
			setup: func(h harness) { h.queue.err = errors.New("boom") }, status: 500, requestValid: true},
		{name: "publish without key", method: "POST", path: "/publish", ctype: "application/json", body: oneEvent,
			mod: func(d *Deps) { d.APIKeys = []string{"k"} }, status: 401, requestValid: true},
		{name: "events full page", method: "GET", path: "/events?topic=user.login&since=2026-11-25T00:00:00Z&limit=2",
			setup:  func(h harness) { h.reader.list = []event.StoredEvent{stored(3), stored(2), stored(1)} },
			status: 200, requestValid: true,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.NotEmpty(t, rec.Header().Get(NextCursorHeader))
				require.Contains(t, rec.Header().Get("Link"), `rel="next"`)
			}},
		{name: "events last page", method: "GET", path: "/events?limit=5",
			setup:  func(h harness) { h.reader.list = []event.StoredEvent{stored(1)} },
			status: 200, requestValid: true,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.Empty(t, rec.Header().Get(NextCursorHeader))
				require.Empty(t, rec.Header().Get("Link"))
			}},
		{name: "events bad limit", method: "GET", path: "/events?limit=abc", status: 400},
		{name: "events limit too large", method: "GET", path: "/events?limit=1001", status: 400},
		{name: "events bad since", method: "GET", path: "/events?since=yesterday", status: 400},
		{name: "events bad cursor", method: "GET", path: "/events?cursor=garbage", status: 400, requestValid: true},
		{name: "events database down", method: "GET", path: "/events",
			setup:  func(h harness) { h.reader.err = event.Errorf(event.Unavailable, "database unavailable") },
			status: 503, requestValid: true},
		{name: "count", method: "GET", path: "/events/count?topic=user.login",
			setup: func(h harness) { h.reader.list = []event.StoredEvent{stored(1)} }, status: 200, requestValid: true},
		{name: "stats", method: "GET", path: "/stats",
			setup: func(h harness) {
				h.reader.stats = event.Stats{Received: 50, UniqueProcessed: 35, DuplicateDropped: 15, Topics: 3, DeadLettered: 2, PayloadConflicts: 1}
				h.queue.published = 60
			},
			status: 200, requestValid: true},
		{name: "stats without the published counter", method: "GET", path: "/stats", mod: func(d *Deps) { d.Published = failingCounter{} },
			status: 200, requestValid: true,
			check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				require.JSONEq(t, `"unhealthy"`, mustField(t, rec, "status"))
				require.JSONEq(t, `null`, mustField(t, rec, "queued"))
			}},
		{name: "stats database down", method: "GET", path: "/stats",
			setup:  func(h harness) { h.reader.err = event.Errorf(event.Unavailable, "database unavailable") },
			status: 503, requestValid: true},
		{name: "stats without key", method: "GET", path: "/stats", mod: func(d *Deps) { d.APIKeys = []string{"k"} },
			status: 401, requestValid: true},
		{name: "stats with bearer key", method: "GET", path: "/stats", header: []string{"Authorization", "Bearer k"},
			mod: func(d *Deps) { d.APIKeys = []string{"k"} }, status: 200, requestValid: true},
		{name: "topics", method: "GET", path: "/topics", status: 200, requestValid: true},
		{name: "health", method: "GET", path: "/health", status: 200, requestValid: true,
			mod: func(d *Deps) {
				d.Checks = append(d.Checks, Check{Name: "redis", Ping: func(context.Context) error { return nil }})
			}},
		{name: "health unhealthy", method: "GET", path: "/health", status: 503, requestValid: true,
			mod: func(d *Deps) {
				d.Checks = append(d.Checks, Check{Name: "redis", Ping: func(context.Context) error { return errors.New("down") }})
			}},
		{name: "index", method: "GET", path: "/", status: 200, requestValid: true},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, requestValid: true},
		{name: "openapi", method: "GET", path: "/openapi.json", status: 200, requestValid: true},
		{name: "dashboard", method: "GET", path: "/ui", status: 200, requestValid: true},
		{name: "dashboard without key", method: "GET", path: "/ui", mod: func(d *Deps) { d.APIKeys = []string{"k"} },
			status: 200, requestValid: true},
		{name: "dashboard script", method: "GET", path: "/ui/app.js", status: 200, requestValid: true},
		{name: "dashboard style", method: "GET", path: "/ui/app.css", status: 200, requestValid: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(d *Deps) {
				allRoutes(d)
				if tc.mod != nil {
					tc.mod(d)
				}
			})
			if tc.setup != nil {
				tc.setup(h)
			}
			rec := h.do(t, tc.method, tc.path, tc.ctype, tc.body, tc.header...)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.check != nil {
				tc.check(t, rec)
			}
			validateExchange(t, doc, tc.method, tc.path, tc.ctype, tc.body, rec, tc.requestValid)
		})
	}
}

// validateExchange validates a request against the document (expecting it
// to pass or fail, as the server did) and the response unconditionally.
func validateExchange(t *testing.T, doc *openapi3.T, method, target, ctype, body string,
	rec *httptest.ResponseRecorder, requestValid bool) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	item := doc.Paths.Find(req.URL.Path)
	require.NotNil(t, item, "no path item for %s", req.URL.Path)
	op := item.GetOperation(method)
	require.NotNil(t, op, "no operation for %s %s", method, req.URL.Path)
	input := &openapi3filter.RequestValidationInput{
		Request: req,
		Route:   &routers.Route{Spec: doc, Path: req.URL.Path, PathItem: item, Method: method, Operation: op},
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	err := openapi3filter.ValidateRequest(context.Background(), input)
	if requestValid {
		require.NoError(t, err, "the document rejects a request the server accepts")
	} else {
		require.Error(t, err, "the document accepts a request the server rejects")
	}

	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(strings.NewReader(rec.Body.String())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	require.NoError(t, err, "response %d %s", rec.Code, rec.Body.String())

	// Every header the API adds beyond the standard ones is documented.
	response := op.Responses.Status(rec.Code)
	require.NotNil(t, response)
	for name := range rec.Header() {
		if standardHeaders[name] {
			continue
		}
		_, ok := response.Value.Headers[name]
		require.True(t, ok, "%s %s answers %d with header %s, which the document does not describe", method, req.URL.Path, rec.Code, name)
	}
}

// standardHeaders need no description in the document.
var standardHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "X-Content-Type-Options": true, "Content-Security-Policy": true,
	"X-Frame-Options": true, "Referrer-Policy": true,
}

// mustField returns one member of a JSON object response, as raw JSON.
func mustField(t *testing.T, rec *httptest.ResponseRecorder, name string) string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
	v, ok := m[name]
	require.True(t, ok, "no %q in %s", name, rec.Body.String())
	return string(v)
}
