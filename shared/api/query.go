package api

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/event"
)

// events lists processed events, newest processed first, a page at a time.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fetch := func(ctx context.Context, p pageRequest[event.Filter]) ([]event.StoredEvent, error) {
		f := p.filter
		f.Limit = p.limit
		if p.after != nil {
			f.After = &event.Position{At: fromMicros(*p.after.At), ID: p.after.ID}
		}
		return s.deps.Reader.Events(ctx, f)
	}
	next := func(f event.Filter, last event.StoredEvent) cursor {
		p := last.Position(f.Order)
		return cursor{At: micros(p.At), ID: p.ID}
	}
	serveList(s, w, r, "events", eventFilter, fetch, next)
}

// eventOrders are the event listing's orders by their names in the API.
var eventOrders = map[string]event.Order{
	event.ByProcessed.String(): event.ByProcessed,
	event.ByTimestamp.String(): event.ByTimestamp,
}

// eventFilter reads /events' filters: topic, source, the since/until
// window on the event's timestamp, and the order.
func eventFilter(q url.Values) (event.Filter, url.Values, error) {
	f := event.Filter{Topic: q.Get("topic"), Source: q.Get("source")}
	canon := url.Values{}
	for _, name := range []string{"topic", "source"} {
		if q.Has(name) {
			canon.Set(name, q.Get(name))
		}
	}
	if q.Has("order") {
		v := q.Get("order")
		order, ok := eventOrders[v]
		if !ok {
			return event.Filter{}, nil, event.Errorf(event.Malformed, "order must be processed (newest processed first, the default) or timestamp (newest event timestamp first), not %q", v)
		}
		f.Order = order
		if order != event.ByProcessed { // the default, written or not, is one query
			canon.Set("order", v)
		}
	}
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		return event.Filter{}, nil, err
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		return event.Filter{}, nil, err
	}
	for name, t := range map[string]*time.Time{"since": f.Since, "until": f.Until} {
		if t != nil {
			canon.Set(name, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return f, canon, nil
}

// count answers the number of distinct events, in one topic or in all.
func (s *Server) count(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	n, err := s.deps.Reader.Count(r.Context(), q.Get("topic"))
	if err != nil {
		s.readFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
}

// statsBody is the /stats document.
type statsBody struct {
	Received         int64  `json:"received"`
	UniqueProcessed  int64  `json:"unique_processed"`
	DuplicateDropped int64  `json:"duplicate_dropped"`
	Topics           int64  `json:"topics"`
	UptimeSeconds    int64  `json:"uptime_seconds"`
	Status           string `json:"status"`
	Published        *int64 `json:"published"`
	Queued           *int64 `json:"queued"`
	DeadLettered     int64  `json:"dead_lettered"`
	PayloadConflicts int64  `json:"payload_conflicts"`
}

// stats reads the database's counters first and the queue's published
// counter second, so that queued = published - received - dead_lettered is
// not negative while the counters are whole: on Redis, anything counted as
// consumed was published before. It is reported as computed, negative when
// the published counter lost events (a Redis without persistence
// restarted), so that the inconsistency shows. (In the cloud, publish
// counts after SQS accepted the messages, so it can be negative for a
// moment; the README says so.)
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Reader.Stats(r.Context())
	if err != nil {
		s.readFailed(w, err)
		return
	}
	body := statsBody{
		Received: st.Received, UniqueProcessed: st.UniqueProcessed, DuplicateDropped: st.DuplicateDropped,
		Topics: st.Topics, DeadLettered: st.DeadLettered, PayloadConflicts: st.PayloadConflicts,
		UptimeSeconds: int64(time.Since(s.deps.Started).Seconds()), Status: "healthy",
	}
	if s.deps.Published != nil {
		p, err := s.deps.Published.Published(r.Context())
		if err != nil {
			s.deps.Logger.Warn("published counter unavailable", "error", err)
			body.Status = "unhealthy"
		} else {
			queued := p - st.Received - st.DeadLettered
			body.Published, body.Queued = &p, &queued
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// topics lists the topics' counters, by name or most recently active
// first, a page at a time.
func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	fetch := func(ctx context.Context, p pageRequest[event.TopicFilter]) ([]event.TopicStats, error) {
		f := p.filter
		f.Limit = p.limit
		if p.after != nil {
			after := event.TopicStats{Topic: p.after.Key}
			if p.after.At != nil {
				after.LastProcessedAt = fromMicros(*p.after.At)
			}
			f.After = &after
		}
		return s.deps.Reader.Topics(ctx, f)
	}
	next := func(f event.TopicFilter, last event.TopicStats) cursor {
		c := cursor{Key: last.Topic}
		if f.Order == event.ByRecent && !last.LastProcessedAt.IsZero() {
			c.At = micros(last.LastProcessedAt)
		}
		return c
	}
	serveList(s, w, r, "topics", topicFilter, fetch, next)
}

// topicOrders are the values of /topics' order parameter.
var topicOrders = map[string]event.TopicOrder{"name": event.ByName, "recent": event.ByRecent}

// topicFilter reads /topics' filters: order (name or recent) and contains.
func topicFilter(q url.Values) (event.TopicFilter, url.Values, error) {
	var f event.TopicFilter
	canon := url.Values{}
	if q.Has("order") {
		v := q.Get("order")
		order, ok := topicOrders[v]
		if !ok {
			return f, nil, event.Errorf(event.Malformed, "order must be name or recent, not %q", v)
		}
		f.Order = order
		if order != event.ByName { // the default, written or not, is one query
			canon.Set("order", v)
		}
	}
	if q.Has("contains") {
		f.Contains = q.Get("contains")
		canon.Set("contains", f.Contains)
	}
	return f, canon, nil
}

// health pings every dependency at once and names the ones that fail. A
// client that goes away meanwhile cancels the pings: that says nothing
// about the dependencies, so it is answered as the client's doing (499,
// logged at debug), not as an outage.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := map[string]string{"status": "healthy"}
	failed := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.deps.Checks {
		wg.Go(func() {
			err := c.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			body[c.Name] = "connected"
			if err != nil {
				body[c.Name], body["status"], failed[c.Name] = "disconnected", "unhealthy", err
			}
		})
	}
	wg.Wait()
	if canceledByClient(r.Context().Err()) {
		writeError(w, s.clientLeft("checking health", context.Cause(r.Context())))
		return
	}
	for name, err := range failed {
		s.deps.Logger.Warn("health check failed", "dependency", name, "error", err)
	}
	status := http.StatusOK
	if body["status"] != "healthy" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// index describes the service and its endpoints.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeError(w, event.Errorf(notFound, "no such endpoint: %s (GET / lists them)", r.URL.Path))
		return
	}
	var endpoints []string
	for _, p := range s.order {
		for _, m := range s.Paths()[p] {
			endpoints = append(endpoints, m+" "+p)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"service": "logagg", "version": s.deps.Version,
		"description": "idempotent publish/subscribe log aggregator", "endpoints": endpoints,
		"docs": "/openapi.json",
	})
}

// readFailed answers a failed read: 503 when the database is down, 500
// otherwise, never with the database's own words; 499 when the client went
// away and cancelled it.
func (s *Server) readFailed(w http.ResponseWriter, err error) {
	if canceledByClient(err) {
		err = s.clientLeft("reading", err)
	} else if event.ErrorCode(err) != event.Unavailable {
		s.deps.Logger.Error("read failed", "error", err)
	}
	writeError(w, err)
}

// parseQuery parses the query string strictly: a malformed one, a
// parameter given twice or given empty is a 400, not a silently empty or
// ignored filter.
func parseQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, event.Errorf(event.Malformed, "malformed query string: %v", err)
	}
	for name, values := range q {
		switch {
		case len(values) > 1:
			return nil, event.Errorf(event.Malformed, "query parameter %q is given %d times; give it once", name, len(values))
		case values[0] == "":
			return nil, event.Errorf(event.Malformed, "query parameter %q is empty; leave it out to not filter on it", name)
		}
	}
	return q, nil
}

// timeParam reads an optional time parameter, by the rule for an event's
// timestamp; nil when it is absent.
func timeParam(q url.Values, name string) (*time.Time, error) {
	if !q.Has(name) {
		return nil, nil
	}
	t, err := event.ParseTimestamp(q.Get(name))
	if err != nil {
		return nil, event.Errorf(event.Malformed, "%s %v", name, err)
	}
	return &t, nil
}
