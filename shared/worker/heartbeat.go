package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/queue"
)

// heartbeat extends the messages a holder still holds every interval, from
// when it starts until it is stopped, so that no other consumer reclaims
// them after the claim threshold. A worker runs one for each batch, while a
// slow commit runs and while it retries the batch with backoff because the
// database is down; a Splitter runs one for the messages waiting in its
// parts. Without it, idle consumers would take such messages over again
// and again during a long outage, until their delivery count dead-lettered
// good messages. A beat that finds nothing held costs nothing, and so does
// a batch that finishes within one interval.
type heartbeat struct {
	ext      queue.Extender
	ctx      context.Context
	interval time.Duration
	held     func() []string // the IDs to extend now
	log      *slog.Logger

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

// startHeartbeat returns a running heartbeat that extends held() through
// c, or nil when c cannot extend or interval is not positive; a nil
// heartbeat's stop does nothing.
func startHeartbeat(ctx context.Context, c queue.Consumer, interval time.Duration, held func() []string, log *slog.Logger) *heartbeat {
	ext, ok := c.(queue.Extender)
	if !ok || interval <= 0 {
		return nil
	}
	h := &heartbeat{ext: ext, ctx: ctx, interval: interval, held: held, log: log}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timer = time.AfterFunc(interval, h.beat)
	return h
}

func (h *heartbeat) beat() {
	h.mu.Lock()
	stopped := h.stopped
	h.mu.Unlock()
	if stopped {
		return
	}
	if ids := h.held(); len(ids) > 0 {
		if err := h.ext.Extend(h.ctx, ids); err != nil {
			h.log.Warn("extending held messages failed", "error", err, "messages", len(ids))
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.timer.Reset(h.interval)
	}
}

// stop ends the heartbeat; a beat already under way finishes. Messages
// still held become reclaimable after the claim threshold.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.timer.Stop()
}

// holding is the batch a worker holds, as its heartbeat reads it.
type holding struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (h *holding) set(msgs []queue.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = msgs
}

func (h *holding) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return queue.IDs(h.msgs)
}
