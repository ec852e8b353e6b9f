// Package api holds logagg's HTTP handlers: publish, the read API, health,
// metrics, the OpenAPI document and the dashboard. The handlers are plain
// net/http; localrun serves them directly and the Lambda functions wrap them
// with the API Gateway proxy adapter.
package api

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Reader answers the read API.
type Reader interface {
	Events(ctx context.Context, f event.Filter) ([]event.StoredEvent, error)
	Count(ctx context.Context, topic string) (int64, error)
	Stats(ctx context.Context) (event.Stats, error)
	Topics(ctx context.Context, f event.TopicFilter) ([]event.TopicStats, error)
}

// Check is one dependency /health reports on.
type Check struct {
	Name string // the key in the /health body: "database", "redis", "queue"
	Ping func(ctx context.Context) error
}

// Observer records requests and publishes (metrics). It may be nil.
type Observer interface {
	ObserveRequest(route string, code int, took time.Duration)
	// ObservePublished counts n events queued, by the protocol they came
	// in by: "json" (/publish), "otlp" (/v1/logs) or "replay".
	ObservePublished(protocol string, n int)
	// ObserveOTLPRejected counts n OTLP log records refused (partial
	// success, or every record of a 400).
	ObserveOTLPRejected(n int)
}

// Deps are what the handlers need; a nil Publisher leaves out the publish
// route and a nil Reader the read routes, so one Lambda function can serve
// only its own routes.
type Deps struct {
	Publisher queue.Publisher
	Reader    Reader
	// DeadLetters serves GET /deadletters, and, with a Publisher to queue
	// them again through, POST /deadletters/replay.
	DeadLetters  DeadLetterStore
	Published    queue.Counter // events accepted by /publish, for /stats
	Checks       []Check
	Limits       event.Limits // a zero field takes its default
	MaxBodyBytes int64        // a request body's limit, after decompression; default DefaultMaxBodyBytes
	// InflightBodyBytes bounds the request body bytes held at once, across
	// requests (decompressed); past it a request is a 503. 0 = no bound.
	InflightBodyBytes int64
	// BodyReadTimeout bounds the time a client has to send a whole request
	// body; 0 = no bound.
	BodyReadTimeout time.Duration
	// AllowedOrigins are the other sites (scheme://host[:port]) whose
	// browser pages may send state-changing requests.
	AllowedOrigins []string
	// MaxMessageEvents is how many events publish packs into one queue
	// message at most; 0 or 1 queues each event as a message of its own.
	MaxMessageEvents int
	// OTLPTopicAttribute is the resource attribute whose value is the
	// topic of an OTLP log record (OTLP_TOPIC_ATTRIBUTE); "" is
	// otlp.DefaultTopicAttribute.
	OTLPTopicAttribute string
	APIKeys            []string
	Version            string
	Started            time.Time
	Logger             *slog.Logger
	Observer           Observer
	Metrics            http.Handler // served at /metrics when set
}

// DefaultMaxBodyBytes is a request body's limit when Deps leave it 0: the
// Lambda request limit (MAX_BODY_BYTES).
const DefaultMaxBodyBytes = 6 << 20

// route is one path with its handler per method.
type route struct {
	path    string
	methods map[string]http.HandlerFunc
}

// Server is the logagg HTTP API.
type Server struct {
	deps        Deps
	byPath      map[string]*route
	order       []string                    // paths in registration order, for the index
	inflight    *semaphore.Weighted         // the request body bytes held; nil = no bound
	crossOrigin *http.CrossOriginProtection // refuses state-changing requests from other sites
}

// New builds the API over deps.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	deps.Limits = deps.Limits.OrDefaults()
	if deps.MaxBodyBytes <= 0 {
		deps.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if deps.Started.IsZero() {
		deps.Started = time.Now()
	}
	s := &Server{deps: deps, byPath: map[string]*route{}}
	s.crossOrigin = crossSiteProtection(deps.Logger, deps.AllowedOrigins, s.writeErrorFor)
	if deps.InflightBodyBytes > 0 {
		s.inflight = semaphore.NewWeighted(deps.InflightBodyBytes)
	}
	s.handle("GET", "/", s.index)
	s.handle("GET", "/health", s.health)
	s.handle("GET", "/openapi.json", s.openAPI)
	if deps.Publisher != nil {
		s.handle("POST", "/publish", s.publish)
		s.handle("POST", otlpLogsPath, s.otlpLogs)
	}
	if deps.Reader != nil {
		s.handle("GET", "/events", s.events)
		s.handle("GET", "/events/count", s.count)
		s.handle("GET", "/stats", s.stats)
		s.handle("GET", "/topics", s.topics)
		s.handleDashboard()
	}
	if deps.DeadLetters != nil {
		s.handle("GET", "/deadletters", s.deadLetters)
		if deps.Publisher != nil {
			s.handle("POST", "/deadletters/replay", s.replayDeadLetters)
		}
	}
	if deps.Metrics != nil {
		s.handle("GET", "/metrics", deps.Metrics.ServeHTTP)
	}
	return s
}

func (s *Server) handle(method, path string, h http.HandlerFunc) {
	r, ok := s.byPath[path]
	if !ok {
		r = &route{path: path, methods: map[string]http.HandlerFunc{}}
		s.byPath[path] = r
		s.order = append(s.order, path)
	}
	if method != "GET" {
		h = s.crossOrigin.Handler(h).ServeHTTP
	}
	r.methods[method] = h
	if method == "GET" {
		r.methods["HEAD"] = h
	}
}

// Paths lists the routes served, for the index and the OpenAPI check.
func (s *Server) Paths() map[string][]string {
	out := map[string][]string{}
	for _, r := range s.byPath {
		for m := range r.methods {
			if m != "HEAD" {
				out[r.path] = append(out[r.path], m)
			}
		}
		sortStrings(out[r.path])
	}
	return out
}

// ServeHTTP authenticates, routes and answers every error as JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.startBodyDeadline(w, r)
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, code: http.StatusOK, log: s.deps.Logger}
	routeName := "unmatched"
	defer func() {
		if p := recover(); p != nil {
			s.deps.Logger.Error("handler panicked", "path", r.URL.Path, "panic", p)
			if !rw.wrote {
				s.writeErrorFor(rw, r, event.Errorf(event.Internal, "internal error"))
			}
		}
		if s.deps.Observer != nil {
			s.deps.Observer.ObserveRequest(routeName, rw.code, time.Since(start))
		}
	}()
	path := r.URL.Path
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	if path != "/health" && !s.isDashboardFile(r, path) && !s.authorized(r) {
		s.writeErrorFor(rw, r, event.Errorf(unauthorized,
			"missing or wrong API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"))
		return
	}
	rt, ok := s.byPath[path]
	if !ok {
		writeError(rw, event.Errorf(notFound, "no such endpoint: %s (GET / lists them)", r.URL.Path))
		return
	}
	routeName = rt.path
	h, ok := rt.methods[r.Method]
	if !ok {
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		rw.Header().Set("Allow", strings.Join(sortStrings(allowed), ", "))
		s.writeErrorFor(rw, r, event.Errorf(methodNotAllowed, "%s does not allow %s", rt.path, r.Method))
		return
	}
	h(rw, r)
}

// authorized checks the API key in constant time; with no keys configured
// the API is open.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.deps.APIKeys) == 0 {
		return true
	}
	key := r.Header.Get("X-API-Key")
	if key == "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			key = strings.TrimSpace(a[7:])
		}
	}
	if key == "" {
		return false
	}
	ok := 0
	for _, k := range s.deps.APIKeys {
		ok |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return ok == 1
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
	log   *slog.Logger // the Server's, for failures found while answering
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
