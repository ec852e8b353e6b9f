package loadgen

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// sentAtPlaceholder is the payload member that Plan.SentAtField adds. The
// placeholder instant has the width of every stamp, so stamping overwrites
// it in place and moves no other byte.
const sentAtPlaceholder = `"sent_at":"` + sentAtZero + `"`

const (
	sentAtPrefix = `"sent_at":"`
	sentAtZero   = "0001-01-01T00:00:00.000000000Z"
	// sentAtLayout writes UTC instants with nanoseconds, always 30 bytes
	// for years 1000 to 9999; the final Z is a literal.
	sentAtLayout = "2006-01-02T15:04:05.000000000Z"
)

// sentAtStamper remembers when each event was first put in a request. It
// keys events by the address of their bytes: a duplicate from Generate
// shares its original's bytes, so it carries the original's time, stays
// byte-identical to it and is never a payload conflict. Equal events that
// do not share bytes are stamped separately.
type sentAtStamper struct {
	mu    sync.Mutex
	first map[*byte]time.Time
}

func newSentAtStamper() *sentAtStamper {
	return &sentAtStamper{first: map[*byte]time.Time{}}
}

// stamp writes into body, built by encodeBatch from batch, each event's
// first send time in place of its placeholder; now is the time of this
// request. Events without the placeholder are left as they are. The events
// themselves are not modified.
func (s *sentAtStamper) stamp(body []byte, batch []json.RawMessage, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf [len(sentAtZero)]byte
	off := len(`{"events":[`)
	for _, e := range batch {
		at := bytes.Index(e, []byte(sentAtPlaceholder))
		if at >= 0 {
			first, ok := s.first[&e[0]]
			if !ok {
				first = now
				s.first[&e[0]] = now
			}
			ts := first.UTC().AppendFormat(buf[:0], sentAtLayout)
			if len(ts) == len(sentAtZero) {
				copy(body[off+at+len(sentAtPrefix):], ts)
			}
		}
		off += len(e) + 1
	}
}
