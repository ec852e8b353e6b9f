package api

import (
	"net/http"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// publish validates the whole request, queues every event, and answers 202
// only once all of them are durably queued. Validation is all-or-nothing, so
// a rejected request queues nothing. Events are packed into queue messages
// by routing group, up to MaxMessageEvents per message, so that the queue
// and the consumers handle a message per many events rather than per event.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	body, done, err := s.readBody(w, r, s.deps.MaxBodyBytes)
	defer done()
	if err != nil {
		writeError(w, err)
		return
	}
	evs, err := event.DecodeRequest(r.Header.Get("Content-Type"), body, s.deps.Limits)
	if err != nil {
		writeError(w, err)
		return
	}
	// A message is bound by the queue's limit, as one event is.
	msgs := queue.PackEvents(evs, s.deps.MaxMessageEvents, s.deps.Limits.MaxEventBytes)
	if err := s.deps.Publisher.Publish(r.Context(), msgs); err != nil {
		if canceledByClient(err, r.Context().Err()) {
			err = s.clientLeft("publishing", err)
		} else if event.ErrorCode(err) == event.Internal {
			s.deps.Logger.Error("publish failed", "error", err)
		}
		writeError(w, err)
		return
	}
	if s.deps.Observer != nil {
		s.deps.Observer.ObservePublished(len(evs))
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "queued": len(evs)})
}
