package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// DeadLetterStore keeps the messages consumers set aside, for inspection and
// replay.
type DeadLetterStore interface {
	// DeadLetters lists dead letters newest first: at most limit, and only
	// those whose ID is below before when before is above 0.
	DeadLetters(ctx context.Context, limit int, before int64) ([]event.DeadLetter, error)
	// ReplayDeadLetters hands the selected dead letters not yet replayed to
	// republish and marks them replayed once it succeeded.
	ReplayDeadLetters(ctx context.Context, sel event.ReplaySelection, republish event.Republish) (int, error)
}

const (
	// maxReplayIDs bounds the IDs one replay request may list.
	maxReplayIDs = 1000
	// maxReplayBody bounds a replay request's body.
	maxReplayBody = 64 << 10
	// republishBytes and republishBodies bound one Publish call of a replay.
	republishBytes  = 1 << 20
	republishBodies = 500
)

// deadLetters lists dead letters, newest first, a page at a time, with the
// same limit and cursor as /events.
func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	fetch := func(ctx context.Context, p pageRequest[struct{}]) ([]event.DeadLetter, error) {
		var before int64
		if p.after != nil {
			before = p.after.ID
		}
		return s.deps.DeadLetters.DeadLetters(ctx, p.limit, before)
	}
	next := func(_ struct{}, last event.DeadLetter) cursor { return cursor{ID: last.ID} }
	serveList(s, w, r, "deadletters", noFilters, fetch, next)
}

// replayRequest is the body of POST /deadletters/replay.
type replayRequest struct {
	IDs []int64 `json:"ids"`
	All bool    `json:"all"`
}

// replayDeadLetters queues the selected dead letters again through the
// publisher, so that published grows by what is replayed and
// published == received + dead_lettered still holds once it is consumed.
// A replayed message that still cannot be consumed is dead-lettered again.
func (s *Server) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	sel, done, err := s.readReplayRequest(w, r)
	defer done()
	if err != nil {
		writeError(w, err)
		return
	}
	republish := func(ctx context.Context, letters []event.DeadLetter) error {
		var bodies [][]byte
		for _, d := range letters {
			bodies = queue.AppendReplayBodies(bodies, []byte(d.Body))
		}
		for _, part := range splitBodies(bodies) {
			if err := s.deps.Publisher.Publish(ctx, queue.ReplayMessages(part)); err != nil {
				return err
			}
			if s.deps.Observer != nil {
				s.deps.Observer.ObservePublished(protocolReplay, len(part))
			}
		}
		return nil
	}
	n, err := s.deps.DeadLetters.ReplayDeadLetters(r.Context(), sel, republish)
	if n > 0 {
		s.deps.Logger.Info("dead letters replayed", "dead_letters", n)
	}
	if err != nil {
		if canceledByClient(err, r.Context().Err()) {
			err = s.clientLeft("replaying dead letters", err)
		} else if code := event.ErrorCode(err); code != event.Unavailable && code != event.Overloaded {
			s.deps.Logger.Error("replay failed", "error", err, "replayed", n)
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"replayed": n})
}

// readReplayRequest reads and checks the replay selection. It takes JSON
// only, and says so (415) to a request without a Content-Type: a browser
// sends application/json to another site only after asking (a preflight),
// which this API never grants. done releases the body.
func (s *Server) readReplayRequest(w http.ResponseWriter, r *http.Request) (sel event.ReplaySelection, done func(), err error) {
	if err := event.RequireJSON(r.Header.Get("Content-Type")); err != nil {
		return sel, func() {}, err
	}
	body, done, err := s.readBody(w, r, maxReplayBody)
	if event.ErrorCode(err) == event.TooLarge {
		err = event.Errorf(event.TooLarge,
			"request body is over the limit of %d bytes; list at most %d IDs, or send {\"all\":true}", maxReplayBody, maxReplayIDs)
	}
	if err != nil {
		return sel, done, err
	}
	sel, err = parseReplayRequest(body)
	return sel, done, err
}

// parseReplayRequest checks the replay selection.
func parseReplayRequest(body []byte) (event.ReplaySelection, error) {
	var req replayRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return event.ReplaySelection{}, event.Errorf(event.Malformed,
			`the body must be a JSON object {"ids":[1,2,…]} or {"all":true}`)
	}
	switch {
	case req.All && len(req.IDs) > 0:
		return event.ReplaySelection{}, event.Errorf(event.Invalid, `give either "ids" or "all", not both`)
	case !req.All && len(req.IDs) == 0:
		return event.ReplaySelection{}, event.Errorf(event.Invalid,
			`say which dead letters to replay: {"ids":[…]} with IDs from GET /deadletters, or {"all":true}`)
	case len(req.IDs) > maxReplayIDs:
		return event.ReplaySelection{}, event.Errorf(event.Invalid,
			"at most %d IDs per request, not %d; send several requests, or {\"all\":true}", maxReplayIDs, len(req.IDs))
	}
	for _, id := range req.IDs {
		if id <= 0 {
			return event.ReplaySelection{}, event.Errorf(event.Invalid, "dead letter IDs are positive, not %d", id)
		}
	}
	return event.ReplaySelection{IDs: req.IDs, All: req.All}, nil
}

// splitBodies cuts bodies into parts small enough for one Publish call.
func splitBodies(bodies [][]byte) [][][]byte {
	return queue.Chunk(bodies, republishBodies, republishBytes)
}
