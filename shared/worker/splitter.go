package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/logagg/logagg/shared/queue"
)

// Splitter reads one consumer in large chunks and splits the messages among
// its parts, each message to the part of its routing group, one part per
// worker. Every copy of an
// event is published in the same group (queue.GroupOf), so copies always
// reach the same worker: concurrent workers then never insert the same key
// at once, and none of them waits on another transaction's lock on the
// unique index. Fetching the next chunk while the workers commit also keeps
// the round trip to Redis off the workers' path.
//
// A Splitter counts events, not messages: a part hands out batches of at
// most the batch size in events (a message is never split), and the
// fetching pauses while every part holds a batch's worth, or one holds
// partLimit batches.
type Splitter struct {
	src       queue.Consumer
	target    int           // events to fetch per Receive
	perMsg    float64       // events per message, as last seen, to turn target into messages
	perPart   int           // a batch, in events: the fetching goes on while a part holds fewer
	wait      time.Duration // how long a part's Receive waits for messages
	heartbeat time.Duration // how often buffered messages are extended
	log       *slog.Logger

	mu       sync.Mutex
	parts    []*Part
	fetching bool
	room     chan struct{} // a part's buffer went down
}

// partLimit is how many batches' worth of events one part may hold before
// the fetching pauses. One fetch can add to that (about parts × batch
// events, split by group), so a part holds at most about partLimit+parts
// batches; in practice the groups spread and it stays near partLimit.
const partLimit = 3

// Part is one worker's share of a Splitter: a queue.Consumer whose Receive
// keeps to its limit in events as well as in messages, a queue.Extender
// and a queue.OwnAcker that go through the Splitter's consumer when that
// one can, and queue.Buffered.
type Part struct {
	s      *Splitter
	buf    []queue.Message // guarded by s.mu
	events int             // the events of buf, guarded by s.mu
	ready  chan struct{}   // messages arrived, or the fetching ended
}

var (
	_ queue.Consumer = (*Part)(nil)
	_ queue.Extender = (*Part)(nil)
	_ queue.Buffered = (*Part)(nil)
	_ queue.OwnAcker = (*Part)(nil)
)

// NewSplitter splits what src delivers among parts parts, fetching about
// parts × batch events at a time and holding one to partLimit batches'
// worth per part.
// heartbeat, when positive and src is a queue.Extender, is how often the
// messages waiting in the parts are extended so that no other consumer
// reclaims them.
func NewSplitter(src queue.Consumer, parts, batch int, heartbeat time.Duration, log *slog.Logger) *Splitter {
	parts, batch = max(parts, 1), max(batch, 1)
	if log == nil {
		log = slog.Default()
	}
	s := &Splitter{
		src: src, target: parts * batch, perMsg: 1, perPart: batch, wait: time.Second, heartbeat: heartbeat,
		log: log, fetching: true, room: make(chan struct{}, 1),
	}
	for range parts {
		s.parts = append(s.parts, &Part{s: s, ready: make(chan struct{}, 1)})
	}
	return s
}

// Part returns the i-th part.
func (s *Splitter) Part(i int) *Part { return s.parts[i] }

// Run fetches until ctx is cancelled. The Receive in progress then is let
// finish (it waits a bounded time) and its messages are split too, so that
// the workers process and acknowledge everything that was fetched.
func (s *Splitter) Run(ctx context.Context) {
	work := context.WithoutCancel(ctx)
	hb := startHeartbeat(work, s.src, s.heartbeat, s.buffered, s.log)
	defer hb.stop()
	defer s.finish()
	for ctx.Err() == nil {
		if !s.waitForRoom(ctx) {
			return
		}
		msgs, err := receiveRetrying(ctx, work, s.src, s.chunk(), 0, s.log)
		if err != nil {
			return // ctx ended
		}
		s.split(msgs)
	}
}

// chunk is how many messages to ask for to get about target events.
func (s *Splitter) chunk() int {
	return max(int(float64(s.target)/s.perMsg), 1)
}

// split appends every message to the buffer of the part its group goes to.
func (s *Splitter) split(msgs []queue.Message) {
	if len(msgs) == 0 {
		return
	}
	touched := make([]bool, len(s.parts))
	events := 0
	s.mu.Lock()
	for _, m := range msgs {
		i := int(m.Group % uint32(len(s.parts)))
		p := s.parts[i]
		p.buf = append(p.buf, m)
		p.events += m.EventCount()
		events += m.EventCount()
		touched[i] = true
	}
	s.mu.Unlock()
	s.perMsg = float64(events) / float64(len(msgs))
	for i, t := range touched {
		if t {
			s.parts[i].signal()
		}
	}
}

// waitForRoom waits until some part holds less than a full batch while
// none holds partLimit batches or more, or ctx ends. Fetching for the
// part that is running low keeps its worker busy even when the groups of a
// chunk fell unevenly and another part is ahead; the limit bounds what a
// part can pile up.
func (s *Splitter) waitForRoom(ctx context.Context) bool {
	for {
		s.mu.Lock()
		low, over := false, false
		for _, p := range s.parts {
			low = low || p.events < s.perPart
			over = over || p.events >= partLimit*s.perPart
		}
		s.mu.Unlock()
		if low && !over {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.room:
		}
	}
}

func (s *Splitter) finish() {
	s.mu.Lock()
	s.fetching = false
	s.mu.Unlock()
	for _, p := range s.parts {
		p.signal()
	}
}

// buffered returns the IDs of the messages waiting in the parts, for the
// heartbeat.
func (s *Splitter) buffered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, p := range s.parts {
		for _, m := range p.buf {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

func (p *Part) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// Receive returns the part's oldest messages, as many as carry at most
// maxEvents events in all but at least one, waiting a short while for some
// when it has none. As every message carries an event or more, that is at
// most maxEvents messages too, as queue.Consumer asks.
func (p *Part) Receive(ctx context.Context, maxEvents int) ([]queue.Message, error) {
	s := p.s
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(p.buf) > 0 {
			n, events := 0, 0
			for n < len(p.buf) && (n == 0 || events+p.buf[n].EventCount() <= maxEvents) {
				events += p.buf[n].EventCount()
				n++
			}
			msgs := make([]queue.Message, n)
			copy(msgs, p.buf)
			p.buf = append(p.buf[:0], p.buf[n:]...)
			p.events -= events
			s.mu.Unlock()
			select {
			case s.room <- struct{}{}:
			default:
			}
			return msgs, nil
		}
		fetching := s.fetching
		s.mu.Unlock()
		if !fetching {
			return nil, nil
		}
		select {
		case <-p.ready:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// Ack acknowledges through the underlying consumer.
func (p *Part) Ack(ctx context.Context, ids []string) error { return p.s.src.Ack(ctx, ids) }

// AckOwn acknowledges through the underlying consumer and reports what it
// found taken over, when it can tell; otherwise it acknowledges them all
// and reports nothing.
func (p *Part) AckOwn(ctx context.Context, ids []string) (queue.TakenOver, error) {
	if owner, ok := p.s.src.(queue.OwnAcker); ok {
		return owner.AckOwn(ctx, ids)
	}
	return queue.TakenOver{}, p.s.src.Ack(ctx, ids)
}

// Extend extends through the underlying consumer, when it can.
func (p *Part) Extend(ctx context.Context, ids []string) error {
	if ext, ok := p.s.src.(queue.Extender); ok {
		return ext.Extend(ctx, ids)
	}
	return nil
}

// Pending reports whether the part may still have messages to hand out:
// the splitter is fetching, or messages wait in the part's buffer. A worker
// that is told to stop keeps going until it has none.
func (p *Part) Pending() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.fetching || len(p.buf) > 0
}
