package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/logagg/logagg/shared/event"
)

const (
	// NextCursorHeader carries the cursor of a listing's next page; it is
	// absent on the last page.
	NextCursorHeader = "X-Next-Cursor"
	// cursorVersion is the format of the cursors this API hands out.
	// Cursors of version 1 held only a row ID and are refused.
	cursorVersion = 2
)

// cursor is where a listing's page ended, with the query it came from, so
// that following it alone continues the same listing. Clients see it as an
// opaque string: the base64url of this JSON document.
type cursor struct {
	Version int    `json:"v"`
	List    string `json:"l"`           // the listing: "events", "topics", "deadletters"
	Query   string `json:"q,omitempty"` // the filters, in their canonical form
	Limit   int    `json:"n"`
	At      *int64 `json:"t,omitempty"` // a time, in microseconds since 1970: processed_at, or a topic's last activity
	ID      int64  `json:"i,omitempty"` // a row ID
	Key     string `json:"k,omitempty"` // a topic name
}

func (c cursor) encode() string {
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// badCursor is the error for a cursor this API did not hand out.
func badCursor(s string) error {
	return event.Errorf(event.Malformed, "cursor %q is not one this API returned; take it from the %s header", shorten(s), NextCursorHeader)
}

// positioned reports whether c holds the position fields its listing needs.
func (c cursor) positioned() bool {
	switch c.List {
	case "events":
		return c.At != nil && c.ID > 0
	case "deadletters":
		return c.ID > 0
	case "topics":
		return c.Key != ""
	}
	return false
}

// decodeCursor reads a cursor that this API handed out for list.
func decodeCursor(s, list string) (cursor, error) {
	bad := badCursor(s)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	if strings.HasPrefix(string(raw), "v1:") {
		return cursor{}, event.Errorf(event.Malformed, "cursor %q comes from an earlier version of this API; start again from the first page", shorten(s))
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != cursorVersion || c.Limit < 1 || c.Limit > event.MaxListLimit {
		return cursor{}, bad
	}
	if c.List != list {
		return cursor{}, event.Errorf(event.Malformed, "cursor %q belongs to /%s, not to /%s", shorten(s), c.List, list)
	}
	if !c.positioned() {
		return cursor{}, bad
	}
	return c, nil
}

func shorten(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// micros and fromMicros carry a time in a cursor at PostgreSQL's precision.
func micros(t time.Time) *int64 {
	us := t.UnixMicro()
	return &us
}

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// filterParser reads a listing's filter parameters from q, returning the
// filter and the parameters in a canonical form: equal filters give equal
// canonical forms, however they were written.
type filterParser[F any] func(q url.Values) (F, url.Values, error)

// pageRequest is one page of a listing: its filter, its size, and where the
// previous page ended.
type pageRequest[F any] struct {
	list   string
	filter F
	query  string  // the canonical filter parameters, url-encoded
	limit  int     // rows per page
	after  *cursor // nil on the first page
}

// readPage reads a listing's filters, limit and cursor. A cursor carries the
// filters and limit of the query it came from, so it may be sent alone; sent
// with filters, they must be the cursor's own (400 otherwise), since a
// cursor's position means nothing in another listing. A limit given with a
// cursor changes the page size from then on.
func readPage[F any](q url.Values, list string, parse filterParser[F]) (pageRequest[F], error) {
	f, canon, err := parse(q)
	if err != nil {
		return pageRequest[F]{}, err
	}
	p := pageRequest[F]{list: list, filter: f, query: canon.Encode(), limit: event.DefaultListLimit}
	limitGiven := q.Has("limit")
	if limitGiven {
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > event.MaxListLimit {
			return pageRequest[F]{}, event.Errorf(event.Malformed, "limit must be a whole number from 1 to %d, not %q", event.MaxListLimit, v)
		}
		p.limit = n
	}
	if !q.Has("cursor") {
		return p, nil
	}
	c, err := decodeCursor(q.Get("cursor"), list)
	if err != nil {
		return pageRequest[F]{}, err
	}
	if len(canon) > 0 && p.query != c.Query {
		return pageRequest[F]{}, event.Errorf(event.Malformed,
			"this cursor continues the query %q, not %q: send the cursor alone, or with the parameters it came from", c.Query, p.query)
	}
	if len(canon) == 0 && c.Query != "" {
		carried, err := url.ParseQuery(c.Query)
		if err == nil {
			p.filter, _, err = parse(carried)
		}
		if err != nil {
			return pageRequest[F]{}, badCursor(q.Get("cursor"))
		}
		p.query = c.Query
	}
	if !limitGiven {
		p.limit = c.Limit
	}
	p.after = &c
	return p, nil
}

// serveList answers one page of the listing list: it reads the page asked
// for, fetches its rows, and points to the next page, which begins after
// the cursor next makes of the last row.
func serveList[F, T any](s *Server, w http.ResponseWriter, r *http.Request, list string, parse filterParser[F],
	fetch func(context.Context, pageRequest[F]) ([]T, error), next func(filter F, last T) cursor) {
	q, err := parseQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := readPage(q, list, parse)
	if err != nil {
		writeError(w, err)
		return
	}
	rows, err := fetch(r.Context(), p)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	if p.full(len(rows)) {
		p.setNext(w, r, next(p.filter, rows[len(rows)-1]))
	}
	writeJSON(w, http.StatusOK, rows)
}

// full reports whether a page of n rows may have a successor.
func (p pageRequest[F]) full(n int) bool { return n == p.limit }

// setNext points to the page after this one, which ended at next (its
// position fields set): the cursor in the X-Next-Cursor header, and the
// next page's URL in a Link header. The Link's URL is a relative reference
// — the path's last segment and the query — so that, resolved against the
// URL the client asked for, it keeps the scheme, host and any path prefix
// that a proxy or an API Gateway stage put in front.
func (p pageRequest[F]) setNext(w http.ResponseWriter, r *http.Request, next cursor) {
	next.Version, next.List, next.Query, next.Limit = cursorVersion, p.list, p.query, p.limit
	c := next.encode()
	w.Header().Set(NextCursorHeader, c)
	q, _ := url.ParseQuery(p.query)
	q.Set("limit", strconv.Itoa(p.limit))
	q.Set("cursor", c)
	w.Header().Set("Link", "<"+path.Base(r.URL.Path)+"?"+q.Encode()+`>; rel="next"`)
}

// noFilters is the filter parser of a listing that has none.
func noFilters(url.Values) (struct{}, url.Values, error) { return struct{}{}, nil, nil }
