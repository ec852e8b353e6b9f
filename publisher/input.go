package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"time"
)

// maxLineBytes bounds one line of input: far above the 256 KiB an event may
// take, so a longer line is a mistake (a binary file, a missing newline).
const maxLineBytes = 1 << 20

// lineEvents says how -lines turns a plain text line into an event.
type lineEvents struct {
	topic, source string
	// identity names the file in every event_id and payload: -lines-id, or
	// the file's absolute path.
	identity string
	// at is the events' timestamp; zero means the time each line is read.
	at time.Time
}

// input reads events from an NDJSON file (one event object a line) or, with
// lines set, from plain text lines, a chunk at a time, so that a file of any
// size is sent with bounded memory.
type input struct {
	name   string // for messages: the path, or "stdin"
	r      *bufio.Reader
	lines  *lineEvents // nil for NDJSON
	lineNo int         // lines read so far
	// keys holds a 64-bit digest of each distinct NDJSON event's key, to
	// count them: 8 bytes (and the map's overhead) an event, not its text.
	// Lines need none: their ids are distinct by construction.
	keys   map[uint64]struct{}
	events int // events read so far
	now    func() time.Time
}

type eventKey struct{ topic, eventID string }

// digest is a 64-bit FNV-1a of topic, NUL, event ID (neither holds a NUL).
func (k eventKey) digest() uint64 {
	h := fnv.New64a()
	h.Write([]byte(k.topic))
	h.Write([]byte{0})
	h.Write([]byte(k.eventID))
	return h.Sum64()
}

func newInput(name string, r io.Reader, lines *lineEvents) *input {
	return &input{
		name: name, r: bufio.NewReaderSize(r, maxLineBytes), lines: lines,
		keys: map[uint64]struct{}{}, now: time.Now,
	}
}

// chunk is a run of events read from the input.
type chunk struct {
	events []json.RawMessage
	line   []int   // the input line of each event, from 1
	bytes  []int64 // input bytes each event accounts for: its line and the blank lines before it
}

// unique is the number of distinct (topic, event_id) read so far (for
// NDJSON, as far as 64-bit digests of the keys tell them apart).
func (in *input) unique() int {
	if in.lines != nil {
		return in.events
	}
	return len(in.keys)
}

// next reads up to maxEvents events or about maxBytes of input, whichever
// comes first. It returns io.EOF, with no events, at the end of the input.
func (in *input) next(maxEvents int, maxBytes int64) (chunk, error) {
	var c chunk
	var read, pending int64 // input bytes in this chunk, and those not yet given to an event
	for len(c.events) < maxEvents && read < maxBytes {
		raw, err := in.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return c, fmt.Errorf("%s line %d is longer than %d bytes", in.name, in.lineNo+1, maxLineBytes)
		case err != nil && !errors.Is(err, io.EOF):
			return c, fmt.Errorf("reading %s: %w", in.name, err)
		case len(raw) == 0:
			if len(c.events) == 0 {
				return c, io.EOF
			}
			return c, nil
		}
		in.lineNo++
		read += int64(len(raw))
		pending += int64(len(raw))
		text := bytes.TrimRight(raw, "\r\n")
		if in.lineNo == 1 {
			text = bytes.TrimPrefix(text, []byte("\xEF\xBB\xBF")) // a byte order mark, as editors on Windows write
		}
		if len(bytes.TrimSpace(text)) == 0 {
			continue // blank lines are no events, in either form
		}
		event, key, perr := in.event(text)
		if perr != nil {
			return c, fmt.Errorf("%s line %d: %w", in.name, in.lineNo, perr)
		}
		in.events++
		if in.lines == nil {
			in.keys[key.digest()] = struct{}{}
		}
		c.events = append(c.events, event)
		c.line = append(c.line, in.lineNo)
		c.bytes = append(c.bytes, pending)
		pending = 0
	}
	return c, nil
}

func (in *input) event(text []byte) (json.RawMessage, eventKey, error) {
	if in.lines != nil {
		return in.lines.event(text, in.lineNo, in.now)
	}
	// The service checks events; here only what keeps the request body
	// well-formed, and the key, to count distinct events.
	var e struct {
		Topic   string `json:"topic"`
		EventID string `json:"event_id"`
	}
	if text = bytes.TrimSpace(text); text[0] != '{' {
		return nil, eventKey{}, errors.New("not a JSON object: NDJSON holds one event object a line")
	}
	if err := json.Unmarshal(text, &e); err != nil {
		return nil, eventKey{}, fmt.Errorf("not a JSON event: %w", err)
	}
	return json.RawMessage(bytes.Clone(text)), eventKey{e.Topic, e.EventID}, nil
}

// lineID is a line's event_id: a digest of the file's identity, the line's
// number and its content, so that sending the same file again gives the
// same ids (and is deduplicated) while two identical lines stay two events.
// Neither the identity nor a number holds a NUL, so the fields cannot run
// into each other.
func lineID(identity string, number int, line []byte) string {
	h := sha256.New()
	h.Write([]byte(identity))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(number), 10))
	h.Write([]byte{0})
	h.Write(line)
	return "line-" + hex.EncodeToString(h.Sum(nil)[:16])
}

func (l *lineEvents) event(line []byte, number int, now func() time.Time) (json.RawMessage, eventKey, error) {
	at := l.at
	if at.IsZero() {
		at = now()
	}
	id := lineID(l.identity, number, line)
	type payload struct {
		Line   string `json:"line"`
		File   string `json:"file"`
		Number int    `json:"number"`
	}
	raw, err := json.Marshal(struct {
		Topic     string  `json:"topic"`
		EventID   string  `json:"event_id"`
		Timestamp string  `json:"timestamp"`
		Source    string  `json:"source"`
		Payload   payload `json:"payload"`
	}{l.topic, id, at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano), l.source,
		payload{string(line), l.identity, number}})
	return raw, eventKey{l.topic, id}, err
}
