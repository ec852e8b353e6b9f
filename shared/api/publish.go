package api

import (
	"net/http"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// Ingest protocols, the label of the published-events metric.
const (
	protocolJSON   = "json"   // POST /publish
	protocolOTLP   = "otlp"   // POST /v1/logs
	protocolReplay = "replay" // POST /deadletters/replay
)

// publish validates the whole request, queues every event, and answers 202
// only once all of them are durably queued. Validation is all-or-nothing, so
// a rejected request queues nothing.
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
	if err := s.queueEvents(r, evs, protocolJSON); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "accepted", "queued": len(evs)})
}

// queueEvents queues evs, validated, for the request r that brought them
// by protocol, and counts them once they are durably queued. Events are
// packed into queue messages by routing group, up to MaxMessageEvents per
// message, so that the queue and the consumers handle a message per many
// events rather than per event.
func (s *Server) queueEvents(r *http.Request, evs []event.Event, protocol string) error {
	// A message is bound by the queue's limit, as one event is.
	msgs := queue.PackEvents(evs, s.deps.MaxMessageEvents, s.deps.Limits.MaxEventBytes)
	if err := s.deps.Publisher.Publish(r.Context(), msgs); err != nil {
		if canceledByClient(err, r.Context().Err()) {
			return s.clientLeft("publishing", err)
		}
		if event.ErrorCode(err) == event.Internal {
			s.deps.Logger.Error("publish failed", "error", err)
		}
		return err
	}
	if s.deps.Observer != nil {
		s.deps.Observer.ObservePublished(protocol, len(evs))
	}
	return nil
}
