package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client talks to a running logagg over HTTP.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080
	APIKey  string // sent as X-API-Key when not empty
	// HTTP is the client requests go through. When nil, a shared client
	// whose transport keeps enough idle connections per host for any
	// reasonable concurrency is used. A caller-supplied transport should
	// set MaxIdleConnsPerHost to at least the publish concurrency, or
	// connections are torn down and re-dialled under load.
	HTTP *http.Client
}

// maxIdlePerHost bounds the connections the default transport keeps open.
const maxIdlePerHost = 256

// NewClient returns a Client for baseURL whose transport reuses connections.
func NewClient(baseURL, apiKey string) *Client {
	return &Client{BaseURL: baseURL, APIKey: apiKey, HTTP: NewHTTPClient(maxIdlePerHost)}
}

// NewHTTPClient returns an HTTP client that keeps up to idlePerHost
// connections per host open for reuse. It sets no overall timeout: callers
// bound each call with its context.
func NewHTTPClient(idlePerHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(idlePerHost, t.MaxIdleConns)
	t.MaxIdleConnsPerHost = idlePerHost
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

var (
	sharedHTTPOnce sync.Once
	sharedHTTP     *http.Client
)

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	sharedHTTPOnce.Do(func() { sharedHTTP = NewHTTPClient(maxIdlePerHost) })
	return sharedHTTP
}

func (c *Client) url(path string) string {
	return strings.TrimRight(c.BaseURL, "/") + path
}

func (c *Client) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set("X-API-Key", c.APIKey)
	}
	return req, nil
}

// StatusError is a non-2xx answer from logagg.
type StatusError struct {
	Method, Path string
	Status       int
	Message      string        // the body's "error" (a google.rpc.Status's message for OTLP), or the start of another body
	Details      []Detail      // the body's "details": which events of a 422 were refused, and why
	RetryAfter   time.Duration // from the Retry-After header; 0 when absent
}

// Detail is one entry of an error's "details": the event at Index of the
// request (counted from 0) was refused for Field.
type Detail struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether the same request may succeed later: the
// service was overloaded or a dependency was down.
func (e *StatusError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
}

// maxBodyRead bounds how much of a response is read.
const maxBodyRead = 1 << 20

// readStatusError builds the error for a non-2xx response.
func readStatusError(req *http.Request, resp *http.Response, now time.Time) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	e := &StatusError{
		Method:     req.Method,
		Path:       req.URL.Path,
		Status:     resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
	}
	var msg struct {
		Error   string   `json:"error"`
		Details []Detail `json:"details"`
	}
	if m, ok := protobufStatusMessage(resp.Header.Get("Content-Type"), body); ok {
		e.Message = m
	} else if json.Unmarshal(body, &msg) == nil && msg.Error != "" {
		e.Message, e.Details = msg.Error, msg.Details
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 32); err == nil {
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Stats is the part of GET /stats that load runs look at.
type Stats struct {
	Received         int64 `json:"received"`
	UniqueProcessed  int64 `json:"unique_processed"`
	DuplicateDropped int64 `json:"duplicate_dropped"`
	Topics           int64 `json:"topics"`
	Published        int64 `json:"published"`
	Queued           int64 `json:"queued"`
	DeadLettered     int64 `json:"dead_lettered"`
	PayloadConflicts int64 `json:"payload_conflicts"`
}

// Stats reads GET /stats.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/stats", nil)
	if err != nil {
		return Stats{}, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return Stats{}, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		return Stats{}, readStatusError(req, resp, time.Now())
	}
	var s Stats
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBodyRead)).Decode(&s); err != nil {
		return Stats{}, fmt.Errorf("GET /stats: reading the answer: %w", err)
	}
	return s, nil
}

// pollInterval is how often WaitFor reads /stats.
const pollInterval = 50 * time.Millisecond

// WaitFor polls /stats about every 50ms until cond holds or ctx ends, and
// returns the last stats read and how long it waited. Errors that may pass
// (network errors, 429, 5xx) are retried; any other answer, such as 401,
// ends the wait at once.
func (c *Client) WaitFor(ctx context.Context, cond func(Stats) bool) (Stats, time.Duration, error) {
	start := time.Now()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last Stats
	var lastErr error
	for {
		s, err := c.Stats(ctx)
		switch {
		case err == nil:
			last, lastErr = s, nil
			if cond(s) {
				return s, time.Since(start), nil
			}
		case ctx.Err() != nil:
		case !pollRetryable(err):
			return last, time.Since(start), err
		default:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("waiting for /stats: %w", context.Cause(ctx))
			if lastErr != nil {
				err = fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
			return last, time.Since(start), err
		case <-tick.C:
		}
	}
}

// pollRetryable reports whether a failed /stats read is worth repeating:
// anything but a definite refusal such as 401 or 404.
func pollRetryable(err error) bool {
	var se *StatusError
	return !errors.As(err, &se) || se.Temporary() || se.Status >= 500
}

// drainClose reads what is left of a body so the connection can be reused.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxBodyRead))
	_ = body.Close()
}
