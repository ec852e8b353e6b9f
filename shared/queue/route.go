package queue

import (
	"bytes"
	"encoding/json"

	"github.com/logagg/logagg/shared/event"
)

// groupOf is the routing group of an event: every copy of it, published or
// replayed, travels in this group, so that one worker gets them all.
func groupOf(e event.Event) uint32 { return GroupOf(e.Topic, e.EventID) }

// PackEvents encodes events that DecodeRequest or DecodeMessage returned
// and packs them into messages by their routing group, as Pack does: at
// most maxEvents events and maxBytes bytes a message.
func PackEvents(evs []event.Event, maxEvents, maxBytes int) []Outgoing {
	bodies := make([][]byte, len(evs))
	groups := make([]uint32, len(evs))
	for i, e := range evs {
		bodies[i] = event.EncodeMessage(e)
		groups[i] = groupOf(e)
	}
	return Pack(bodies, groups, maxEvents, maxBytes)
}

// AppendReplayBodies appends the message bodies that replay the body of a
// dead-lettered message: a JSON array (a message that carried several
// events) as one body per element, flattening nested arrays, anything else
// (an empty array too) as it is. Each replayed message then counts exactly
// once when consumed, as an event received or as one dead letter, just as
// each message counts once in published.
func AppendReplayBodies(dst [][]byte, body []byte) [][]byte {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return append(dst, body)
	}
	var elems []json.RawMessage
	if json.Unmarshal(trimmed, &elems) != nil || len(elems) == 0 {
		return append(dst, body)
	}
	for _, e := range elems {
		dst = AppendReplayBodies(dst, e)
	}
	return dst
}

// ReplayMessages makes a message of each body, routed like a published
// event by its key where the body is one valid event, so that a replayed
// copy reaches the worker that gets every other copy; a body that is not is
// routed by its bytes.
func ReplayMessages(bodies [][]byte) []Outgoing {
	msgs := Singles(bodies)
	for i, b := range bodies {
		if evs, err := event.DecodeMessage(b); err == nil && len(evs) == 1 {
			msgs[i].Group = groupOf(evs[0])
		}
	}
	return msgs
}
