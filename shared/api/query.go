package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/store"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
	// NextCursorHeader carries the cursor of the next page of /events and
	// /deadletters; it is absent on the last page.
	NextCursorHeader = "X-Next-Cursor"
)

// events lists processed events, newest processed first, a page at a time.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	f := store.Filter{Topic: q.Get("topic"), Source: q.Get("source")}
	if f.Since, err = timeParam(q, "since"); err != nil {
		writeError(w, err)
		return
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		writeError(w, err)
		return
	}
	if f.Limit, f.Before, err = pageParams(q); err != nil {
		writeError(w, err)
		return
	}
	list, err := s.deps.Reader.Events(r.Context(), f)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	if len(list) == f.Limit {
		setNextPage(w, r, q, list[len(list)-1].ID)
	}
	writeJSON(w, http.StatusOK, list)
}

// pageParams reads a listing's limit (default 100) and cursor (0 when
// absent).
func pageParams(q url.Values) (limit int, before int64, err error) {
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, 0, event.Errorf(event.Malformed, "limit must be a whole number from 1 to %d, not %q", maxLimit, v)
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if before, err = decodeCursor(v); err != nil {
			return 0, 0, err
		}
	}
	return limit, before, nil
}

// setNextPage points to the page after the row lastID: the cursor in the
// X-Next-Cursor header, and the whole URL in a Link header.
func setNextPage(w http.ResponseWriter, r *http.Request, q url.Values, lastID int64) {
	next := encodeCursor(lastID)
	w.Header().Set(NextCursorHeader, next)
	q.Set("cursor", next)
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
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
// counter second, so queued = published - received - dead_lettered is
// never negative: anything counted as consumed was published before.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Reader.Stats(r.Context())
	if err != nil {
		s.readFailed(w, err)
		return
	}
	body := statsBody{
		Received: st.Received, UniqueProcessed: st.UniqueProcessed, DuplicateDropped: st.DuplicateDropped,
		Topics: st.Topics, DeadLettered: st.DeadLettered, PayloadConflicts: st.PayloadConflicts,
		UptimeSeconds: int64(time.Since(s.deps.Started).Seconds()), Status: "ok",
	}
	if s.deps.Published != nil {
		p, err := s.deps.Published.Published(r.Context())
		if err != nil {
			s.deps.Logger.Warn("published counter unavailable", "error", err)
			body.Status = "degraded"
		} else {
			queued := max(p-st.Received-st.DeadLettered, 0)
			body.Published, body.Queued = &p, &queued
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	list, err := s.deps.Reader.Topics(r.Context())
	if err != nil {
		s.readFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
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
		writeError(w, event.Errorf(event.NotFound, "no such endpoint: %s (GET / lists them)", r.URL.Path))
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

// parseQuery parses the query string strictly: a malformed one is a 400,
// not a silently empty filter.
func parseQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, event.Errorf(event.Malformed, "malformed query string: %v", err)
	}
	return q, nil
}

func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, event.Errorf(event.Malformed,
			"%s must be an RFC 3339 time with an offset, such as 2026-11-25T10:00:00Z, not %q", name, v)
	}
	return t, nil
}

// Cursors are opaque to clients: the base64 of "v1:<id of the last row>".
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (int64, error) {
	bad := event.Errorf(event.Malformed, "cursor %q is not one this API returned; take it from the %s header", c, NextCursorHeader)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, bad
	}
	s, ok := strings.CutPrefix(string(raw), "v1:")
	if !ok {
		return 0, bad
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, bad
	}
	return id, nil
}
