// Package loadgentest is an in-memory stand-in for logagg's HTTP API
// (POST /publish with {"events":[...]}, GET /stats) for testing load
// generators without a database or a queue. It validates events as SPEC.md
// describes, deduplicates them by (topic, event_id), and keeps the counters
// of /stats exactly, moving events from queued to received when /stats is
// read.
package loadgentest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Options shapes a Server.
type Options struct {
	// APIKey, when set, is required on every request as X-API-Key or
	// Authorization: Bearer.
	APIKey string
	// Intercept, when set, sees every valid POST /publish (attempt numbers
	// them from 1 in arrival order) and may answer it instead of the server; a zero Reply
	// lets the request through.
	Intercept func(attempt, events int) Reply
	// InFlight, when set, is called while a publish request is being handled
	// with the number of publish requests in flight, including this one; a
	// test can hold requests there to observe concurrency.
	InFlight func(inFlight int)
	// DrainPerPoll is how many queued events each GET /stats consumes
	// before answering; 0 consumes all of them.
	DrainPerPoll int
}

// Reply is an answer Intercept gives in the server's place.
type Reply struct {
	Status     int
	RetryAfter string // Retry-After header, if any
	Error      string // the body's "error"
}

// Attempt is one POST /publish the server saw.
type Attempt struct {
	At     time.Time
	Events int
	Status int
}

// Stats is the body of GET /stats.
type Stats struct {
	Received         int64   `json:"received"`
	UniqueProcessed  int64   `json:"unique_processed"`
	DuplicateDropped int64   `json:"duplicate_dropped"`
	Topics           int64   `json:"topics"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	Status           string  `json:"status"`
	Published        int64   `json:"published"`
	Queued           int64   `json:"queued"`
	DeadLettered     int64   `json:"dead_lettered"`
	PayloadConflicts int64   `json:"payload_conflicts"`
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	URL string

	opt     Options
	started time.Time

	mu          sync.Mutex
	attempts    []Attempt
	valid       int                 // valid publish requests seen, accepted or not
	accepted    [][]json.RawMessage // events of each accepted request
	queue       []Event
	stored      map[key][]byte // compacted payload of each unique event
	topics      map[string]bool
	stats       Stats
	inFlight    int
	maxInFlight int
}

// Event is the part of an event the fake reads.
type Event struct {
	Topic     string          `json:"topic"`
	EventID   string          `json:"event_id"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	Payload   json.RawMessage `json:"payload"`
}

type key struct{ topic, eventID string }

// New starts a fake that is closed when the test ends.
func New(tb testing.TB, opt Options) *Server {
	s := &Server{opt: opt, started: time.Now(), stored: map[key][]byte{}, topics: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", s.publish)
	mux.HandleFunc("GET /stats", s.statsHandler)
	srv := httptest.NewServer(s.auth(mux))
	tb.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.APIKey != "" && r.Header.Get("X-API-Key") != s.opt.APIKey &&
			r.Header.Get("Authorization") != "Bearer "+s.opt.APIKey {
			writeError(w, http.StatusUnauthorized, "", "missing or wrong API key: send it as X-API-Key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	n := s.inFlight
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.opt.InFlight != nil {
		s.opt.InFlight(n)
	}

	arrived := time.Now()
	var req struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.record(arrived, 0, http.StatusBadRequest)
		writeError(w, http.StatusBadRequest, "", "malformed JSON: "+err.Error())
		return
	}
	events := make([]Event, len(req.Events))
	for i, raw := range req.Events {
		if err := decodeEvent(raw, &events[i]); err != nil {
			s.record(arrived, len(req.Events), http.StatusUnprocessableEntity)
			// As logagg does: the message, and the event's index and field
			// in details.
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
				"error":   fmt.Sprintf("event %d: %v", i, err),
				"details": []map[string]any{{"index": i, "field": err.field, "message": err.message}},
			})
			return
		}
	}
	if len(events) == 0 {
		s.record(arrived, 0, http.StatusUnprocessableEntity)
		writeError(w, http.StatusUnprocessableEntity, "", "the request holds no events")
		return
	}

	s.mu.Lock()
	s.valid++
	attempt := s.valid
	s.mu.Unlock()
	if s.opt.Intercept != nil {
		if rep := s.opt.Intercept(attempt, len(events)); rep.Status != 0 {
			s.record(arrived, len(events), rep.Status)
			writeError(w, rep.Status, rep.RetryAfter, rep.Error)
			return
		}
	}

	s.mu.Lock()
	s.attempts = append(s.attempts, Attempt{At: arrived, Events: len(events), Status: http.StatusAccepted})
	s.accepted = append(s.accepted, req.Events)
	s.queue = append(s.queue, events...)
	s.stats.Published += int64(len(events))
	s.mu.Unlock()
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "queued": len(events)})
}

func (s *Server) record(at time.Time, events, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, Attempt{At: at, Events: events, Status: status})
}

// fieldError is an event refused for one of its fields.
type fieldError struct{ field, message string }

func (e *fieldError) Error() string { return e.message }

// decodeEvent checks one event as SPEC.md's rules say.
func decodeEvent(raw json.RawMessage, e *Event) *fieldError {
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return &fieldError{"", "contains a NUL character"}
	}
	if err := json.Unmarshal(raw, e); err != nil {
		return &fieldError{"", err.Error()}
	}
	for _, f := range []struct{ name, v string }{{"topic", e.Topic}, {"event_id", e.EventID}, {"source", e.Source}} {
		if n := utf8.RuneCountInString(f.v); n < 1 || n > 255 {
			return &fieldError{f.name, fmt.Sprintf("%s must be 1–255 characters, got %d", f.name, n)}
		}
		for _, r := range f.v {
			if r < 0x20 || r == 0x7f {
				return &fieldError{f.name, fmt.Sprintf("%s contains a control character", f.name)}
			}
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
		return &fieldError{"timestamp", fmt.Sprintf("timestamp: %v", err)}
	}
	p := bytes.TrimSpace(e.Payload)
	if len(p) == 0 || string(p) == "null" {
		e.Payload = json.RawMessage("{}")
	} else if p[0] != '{' {
		return &fieldError{"payload", "payload must be a JSON object"}
	}
	return nil
}

func (s *Server) statsHandler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.queue)
	if s.opt.DrainPerPoll > 0 {
		n = min(n, s.opt.DrainPerPoll)
	}
	for _, e := range s.queue[:n] {
		s.consume(e)
	}
	s.queue = s.queue[n:]
	st := s.statsLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) consume(e Event) {
	var compact bytes.Buffer
	_ = json.Compact(&compact, e.Payload)
	k := key{e.Topic, e.EventID}
	s.stats.Received++
	prev, seen := s.stored[k]
	switch {
	case !seen:
		s.stored[k] = compact.Bytes()
		s.topics[e.Topic] = true
		s.stats.UniqueProcessed++
	case !bytes.Equal(prev, compact.Bytes()):
		s.stats.DuplicateDropped++
		s.stats.PayloadConflicts++
	default:
		s.stats.DuplicateDropped++
	}
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.Topics = int64(len(s.topics))
	st.Queued = int64(len(s.queue))
	st.UptimeSeconds = time.Since(s.started).Truncate(time.Second).Seconds()
	st.Status = "healthy"
	return st
}

// Stats returns the counters without consuming anything.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

// Attempts returns every POST /publish seen, in arrival order.
func (s *Server) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

// Accepted returns the events of each accepted request, in order of
// acceptance.
func (s *Server) Accepted() [][]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]json.RawMessage(nil), s.accepted...)
}

// MaxInFlight returns the most publish requests that were ever handled at
// once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Barrier returns an InFlight hook that holds each publish request until n
// requests have been in flight at once, or until ctx ends, whichever comes
// first. With it, MaxInFlight reaches n exactly when the client really sends
// n requests in parallel.
func Barrier(ctx context.Context, n int) func(int) {
	full := make(chan struct{})
	var once sync.Once
	return func(inFlight int) {
		if inFlight >= n {
			once.Do(func() { close(full) })
		}
		select {
		case <-full:
		case <-ctx.Done():
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, retryAfter, msg string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}
