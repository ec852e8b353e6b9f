// Package loadgen generates logagg events with a chosen share of duplicates
// and sends them to a running logagg over its HTTP API. End-to-end tests, the
// benchmark harness and the publisher command use it; it speaks only the
// public API (POST /publish, GET /stats), never logagg's internals.
package loadgen

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"
)

// Plan describes the events to generate.
type Plan struct {
	Events       int     // total events to send, duplicates included
	DupRate      float64 // fraction of sent events that repeat an earlier (topic, event_id); 0.3 = 30%
	Topics       int     // distinct topics (default 10)
	PayloadBytes int     // approximate encoded payload size (default 120)
	Seed         int64
	RunID        string    // goes into every event_id so runs never collide (default: random)
	Start        time.Time // timestamp of the first event (default 2026-01-01T00:00:00Z)
	// SentAtField gives every payload a "sent_at" member holding a
	// placeholder instant, which Publish with PublishOptions.StampSentAt
	// replaces with the time the event was first sent, so that the delay
	// from sending to storing can be read off the stored rows.
	SentAtField bool
}

const (
	defaultTopics       = 10
	defaultPayloadBytes = 120
	maxRunIDLen         = 200 // leaves room for "-<seq>" within the 255-character event_id limit

	// recentWindow is how far back a "recent" duplicate reaches, so that many
	// duplicates land in the same request as their original.
	recentWindow = 32
)

var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// offsetZone gives some events a non-UTC offset, as real producers do.
var offsetZone = time.FixedZone("", 7*60*60)

var sources = []string{"loadgen-api", "loadgen-worker", "loadgen-cron", "loadgen-edge"}

var levels = []string{"debug", "info", "info", "info", "warn", "error"}

// Duplicates returns how many of the plan's events repeat an earlier one:
// round(Events*DupRate), at most Events-1 since the first event is always new.
func (p Plan) Duplicates() int {
	if p.Events <= 0 || p.DupRate <= 0 || math.IsNaN(p.DupRate) {
		return 0
	}
	d := int(math.Round(float64(p.Events) * math.Min(p.DupRate, 1)))
	return min(d, p.Events-1)
}

// withDefaults fills in the zero fields. It panics on a RunID that could not
// make a valid event_id: that is a mistake in the calling code.
func (p Plan) withDefaults() Plan {
	p.Events = max(p.Events, 0)
	if p.Topics <= 0 {
		p.Topics = defaultTopics
	}
	if p.PayloadBytes <= 0 {
		p.PayloadBytes = defaultPayloadBytes
	}
	if p.Start.IsZero() {
		p.Start = defaultStart
	}
	if p.RunID == "" {
		p.RunID = NewRunID()
	}
	if err := checkRunID(p.RunID); err != nil {
		panic("loadgen: " + err.Error())
	}
	return p
}

func checkRunID(id string) error {
	if utf8.RuneCountInString(id) > maxRunIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("RunID must be valid UTF-8 of at most %d characters", maxRunIDLen)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("RunID %q contains a control character", id)
		}
	}
	return nil
}

// NewRunID returns a random identifier for one run.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "run" + hex.EncodeToString(b[:])
}

// Generate returns the events in send order and the number of distinct keys.
// Exactly p.Duplicates() events repeat an earlier one: the same topic,
// event_id and payload, byte for byte, so they are never payload conflicts.
// Duplicates are spread through the run; about half repeat one of the last
// few new events, so many share a request with their original.
//
// Each event is encoded once; a duplicate shares its original's bytes, and
// the events are carved out of a few large buffers, so Generate allocates
// little beyond the memory the events need. The same Plan (with RunID set)
// always yields the same events.
func Generate(p Plan) (events []json.RawMessage, unique int) {
	p = p.withDefaults()
	dups := p.Duplicates()
	unique = p.Events - dups
	events = make([]json.RawMessage, p.Events)
	if p.Events == 0 {
		return events, 0
	}

	rng := mrand.New(mrand.NewPCG(uint64(p.Seed), 0x6c6f6761676721))
	enc := newEncoder(p, rng)
	originals := make([]int32, 0, unique) // positions in events of the new events so far
	dupsLeft := dups
	for i := range events {
		// Sampling without replacement places exactly dups duplicates,
		// evenly spread in expectation; the first event must be new.
		if len(originals) > 0 && rng.IntN(p.Events-i) < dupsLeft {
			dupsLeft--
			n := len(originals)
			var j int
			if rng.IntN(2) == 0 {
				j = n - 1 - rng.IntN(min(n, recentWindow))
			} else {
				j = rng.IntN(n)
			}
			events[i] = events[originals[j]]
			continue
		}
		events[i] = enc.encode(len(originals))
		originals = append(originals, int32(i))
	}
	return events, unique
}

// encoder writes new events into large shared buffers.
type encoder struct {
	rng      *mrand.Rand
	start    time.Time
	sentAt   bool
	runID    []byte   // JSON-escaped, without quotes
	topics   [][]byte // `{"topic":"...","event_id":"` for each topic
	padding  []byte   // random letters that payloads take slices of
	padLen   int
	maxLen   int // upper bound of one encoded event
	buf      []byte
	chunkLen int
}

func newEncoder(p Plan, rng *mrand.Rand) *encoder {
	quoted, _ := json.Marshal(p.RunID)
	e := &encoder{rng: rng, start: p.Start, sentAt: p.SentAtField, runID: quoted[1 : len(quoted)-1]}
	for t := range p.Topics {
		e.topics = append(e.topics, fmt.Appendf(nil, `{"topic":"loadgen.topic-%02d","event_id":"`, t))
	}
	// The payload is {"seq":N,"level":"...","msg":"<pad>"}, with
	// "sent_at" after "seq" when asked for; the fixed part is about 40
	// bytes, the rest is padding.
	e.padLen = max(p.PayloadBytes-40, 0)
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 "
	e.padding = make([]byte, 4096+e.padLen)
	for i := range e.padding {
		e.padding[i] = letters[rng.IntN(len(letters))]
	}
	e.maxLen = 256 + len(e.topics[len(e.topics)-1]) + len(e.runID) + e.padLen
	if e.sentAt {
		e.maxLen += len(sentAtPlaceholder) + 1
	}
	e.chunkLen = max(1<<20, 16*e.maxLen)
	return e
}

// encode appends new event number seq to the current buffer and returns it
// as a slice whose capacity ends with it, so appending to one event can
// never overwrite the next.
func (e *encoder) encode(seq int) json.RawMessage {
	if cap(e.buf)-len(e.buf) < e.maxLen {
		e.buf = make([]byte, 0, e.chunkLen)
	}
	b := e.buf
	from := len(b)
	b = append(b, e.topics[e.rng.IntN(len(e.topics))]...)
	b = append(b, e.runID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","timestamp":"`...)
	ts := e.start.Add(time.Duration(seq) * time.Millisecond)
	if seq%5 == 4 {
		ts = ts.In(offsetZone)
	} else {
		ts = ts.UTC()
	}
	b = ts.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":"`...)
	b = append(b, sources[e.rng.IntN(len(sources))]...)
	b = append(b, `","payload":{"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	if e.sentAt {
		b = append(b, ',')
		b = append(b, sentAtPlaceholder...)
	}
	b = append(b, `,"level":"`...)
	b = append(b, levels[e.rng.IntN(len(levels))]...)
	b = append(b, `","msg":"`...)
	off := e.rng.IntN(len(e.padding) - e.padLen + 1)
	b = append(b, e.padding[off:off+e.padLen]...)
	b = append(b, `"}}`...)
	e.buf = b
	return json.RawMessage(b[from:len(b):len(b)])
}
