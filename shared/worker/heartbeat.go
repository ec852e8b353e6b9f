package worker

import (
	"context"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/queue"
)

// Extender is a Consumer that can keep the messages it holds from being
// reclaimed by other consumers, without counting a delivery, while it is
// still working on them.
type Extender interface {
	Extend(ctx context.Context, ids []string) error
}

// heartbeat extends the messages of the batch in flight every interval for
// as long as the worker holds them: while a slow commit runs, and while it
// retries them with backoff because the database is down. Without it, idle
// consumers would take the batch over after the claim threshold, again and
// again during a long outage, until its delivery count dead-lettered good
// messages. A batch that finishes within one interval costs nothing.
type heartbeat struct {
	ext      Extender
	ctx      context.Context
	interval time.Duration
	log      func(err error)

	mu      sync.Mutex
	ids     []string
	timer   *time.Timer
	stopped bool
}

// startHeartbeat returns the heartbeat for one batch, or nil when the
// consumer cannot extend or no interval is set; a nil heartbeat's methods
// do nothing.
func (w *Worker) startHeartbeat(ctx context.Context, msgs []queue.Message) *heartbeat {
	ext, ok := w.Consumer.(Extender)
	if !ok || w.Heartbeat <= 0 {
		return nil
	}
	h := &heartbeat{ext: ext, ctx: ctx, interval: w.Heartbeat, log: func(err error) {
		w.logger().Warn("extending held messages failed", "error", err)
	}}
	h.hold(msgs)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timer = time.AfterFunc(h.interval, h.beat)
	return h
}

// hold makes msgs the messages to extend.
func (h *heartbeat) hold(msgs []queue.Message) {
	if h == nil {
		return
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	h.mu.Lock()
	h.ids = ids
	h.mu.Unlock()
}

func (h *heartbeat) beat() {
	h.mu.Lock()
	ids, stopped := h.ids, h.stopped
	h.mu.Unlock()
	if stopped {
		return
	}
	if err := h.ext.Extend(h.ctx, ids); err != nil {
		h.log(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.timer.Reset(h.interval)
	}
}

// stop ends the heartbeat; messages still held become reclaimable after the
// claim threshold.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.timer.Stop()
}
