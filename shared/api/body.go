package api

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/logagg/logagg/shared/event"
)

// firstBodyBuffer is the first buffer for a body of unknown size (chunked,
// or compressed); it doubles as the body grows.
const firstBodyBuffer = 32 << 10

var (
	errBodyOverLimit = errors.New("body over the limit")
	errBudgetSpent   = errors.New("in-flight body budget spent")
)

// readBody reads r's whole body within the bounds a client may hold the
// server to, and is the one way a route reads a body:
//   - Content-Encoding gzip (or x-gzip) is decompressed; another coding is
//     refused with 415 before anything is read;
//   - a declared Content-Length over limit is refused with 413 before
//     anything is read, so before net/http sends `100 Continue`;
//   - the body, decompressed, is held to limit: a zip bomb is a 413 after at
//     most limit bytes;
//   - the bytes held count against the server's in-flight budget
//     (InflightBodyBytes), taken as the buffer grows: when it is spent the
//     request is a 503 with Retry-After;
//   - the whole body must arrive within BodyReadTimeout of the request's
//     start (startBodyDeadline), or it is a 408.
//
// The budget stays taken until done is called, which the caller defers:
// the body is in memory until the handler returns. done is never nil.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, done func(), err error) {
	nothing := func() {}
	gzipped, err := gzipCoded(r.Header.Values("Content-Encoding"))
	if err != nil {
		return nil, nothing, err
	}
	if r.ContentLength > limit {
		return nil, nothing, tooLarge(limit)
	}
	held := &heldBytes{budget: s.inflight}
	wire := &wireReader{r: http.MaxBytesReader(w, r.Body, limit)}
	var src io.Reader = wire
	size := int64(firstBodyBuffer)
	if gzipped {
		zr, zerr := gzip.NewReader(wire)
		if zerr != nil {
			return nil, nothing, s.bodyFailed(r, wire, zerr, limit)
		}
		src = zr
	} else if r.ContentLength >= 0 {
		size = r.ContentLength
	}
	body, err = readAtMost(src, limit, size, held.take)
	if err != nil {
		// The body's deadline stays: net/http discards what is left of
		// it before answering, and that too must end in time.
		held.release()
		return nil, nothing, s.bodyFailed(r, wire, err, limit)
	}
	if s.deps.BodyReadTimeout > 0 {
		// The body is in, and what the handler does next has no deadline
		// (net/http clears it too, as it starts reading the connection in
		// the background for the client closing it).
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	return body, held.release, nil
}

// startBodyDeadline gives a request with a body BodyReadTimeout to send it
// whole, from now, when its headers are in: whether a handler reads the
// body or net/http discards what a handler left unread, a client that
// trickles it is cut off. A whole-body deadline is the simple bound to
// document (a minimum rate would spare large bodies over slow links, at the
// cost of a second setting and a reader to maintain; a slow link can send
// smaller requests). The server's ReadTimeout bounds about the same span,
// but only where the server is built that way; this bound goes with the
// handler and answers 408 in JSON. A writer without a connection (tests,
// the Lambda adapter, whose body is already in memory) does not support
// deadlines and needs none.
func (s *Server) startBodyDeadline(w http.ResponseWriter, r *http.Request) {
	if s.deps.BodyReadTimeout > 0 && r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.deps.BodyReadTimeout))
	}
}

// gzipCoded reads Content-Encoding: none or identity is a plain body, gzip
// (x-gzip is its old name) a compressed one; anything else, several codings
// included, is refused.
func gzipCoded(values []string) (bool, error) {
	var codings []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, nil
	}
	return false, event.Errorf(event.Unsupported,
		"Content-Encoding %q is not supported: send the body as it is, or gzip-compressed with 'Content-Encoding: gzip'",
		strings.Join(values, ", "))
}

func tooLarge(limit int64) error {
	return event.Errorf(event.TooLarge, "request body is over the limit of %d bytes; split it into smaller requests", limit)
}

// bodyFailed turns an error met reading the body into the answer: the
// wire's own errors (the limit on what is sent, the deadline, the client
// gone) first, then the budget and the limit after decompression, then
// gzip's.
func (s *Server) bodyFailed(r *http.Request, wire *wireReader, err error, limit int64) error {
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(wire.err, &maxBytes), errors.Is(err, errBodyOverLimit):
		return tooLarge(limit)
	case errors.Is(wire.err, os.ErrDeadlineExceeded):
		s.deps.Logger.Debug("request body too slow", "path", r.URL.Path, "timeout", s.deps.BodyReadTimeout)
		return event.Errorf(timedOut, "the request body did not arrive within %s; send it faster, or in smaller requests",
			s.deps.BodyReadTimeout)
	case wire.err != nil && clientWentAway(r, wire.err):
		return s.clientLeft("reading the request body", wire.err)
	case wire.err != nil:
		return event.Wrap(event.Malformed, wire.err, "could not read the request body")
	case errors.Is(err, errBudgetSpent):
		s.deps.Logger.Info("request refused: the in-flight body budget is spent", "path", r.URL.Path)
		return event.Errorf(event.Unavailable,
			"the server is holding as many request bodies as it may at once; retry after Retry-After seconds")
	}
	return event.Wrap(event.Malformed, err, "the body is not valid gzip (Content-Encoding: gzip)")
}

// clientWentAway reports whether a failed read of the body means its client
// went away: the connection ended in the middle of it.
func clientWentAway(r *http.Request, err error) bool {
	return canceledByClient(err, r.Context().Err()) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// wireReader keeps the error of the body as sent, apart from what gzip
// makes of it.
type wireReader struct {
	r   io.Reader
	err error
}

func (w *wireReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
}

// readAtMost reads src to its end into a buffer of size bytes at first,
// doubled each time it fills, up to limit; each growth is taken first from
// take. More than limit bytes is errBodyOverLimit; take refusing is
// errBudgetSpent.
func readAtMost(src io.Reader, limit, size int64, take func(int64) bool) ([]byte, error) {
	size = min(size, limit)
	if !take(size) {
		return nil, errBudgetSpent
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			// Full: one more byte tells whether the body ends here, and
			// a body that fits exactly takes no second buffer.
			var one [1]byte
			n, err := io.ReadFull(src, one[:])
			if n == 0 {
				if err == io.EOF {
					return buf, nil
				}
				return nil, err
			}
			if int64(len(buf)) >= limit {
				return nil, errBodyOverLimit
			}
			next := min(max(2*int64(cap(buf)), firstBodyBuffer), limit)
			if !take(next - int64(cap(buf))) {
				return nil, errBudgetSpent
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = append(grown, one[0])
			continue
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// heldBytes is what one request has taken from the server's budget of body
// bytes; a nil budget is no bound.
type heldBytes struct {
	budget *semaphore.Weighted
	n      int64
}

// take takes n more bytes, without waiting: a request that would wait for
// others' bytes while holding its own could wait for ever.
func (h *heldBytes) take(n int64) bool {
	if h.budget == nil || n == 0 {
		return true
	}
	if !h.budget.TryAcquire(n) {
		return false
	}
	h.n += n
	return true
}

func (h *heldBytes) release() {
	if h.budget != nil && h.n > 0 {
		h.budget.Release(h.n)
		h.n = 0
	}
}
