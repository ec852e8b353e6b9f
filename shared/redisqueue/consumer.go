package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/faultpoint"
	"github.com/logagg/logagg/shared/queue"
)

// Consumer is one named consumer of the group.
type Consumer struct {
	q    *Queue
	name string

	mu        sync.Mutex // guards the reclaim state below
	nextClaim time.Time  // no reclaim before this
	cursor    string     // where the next reclaim scan starts

	heldMu sync.Mutex
	held   map[string]int // events of each message delivered and not yet acknowledged, for Ack
}

var (
	_ queue.Consumer = (*Consumer)(nil)
	_ queue.Extender = (*Consumer)(nil)
	_ queue.OwnAcker = (*Consumer)(nil)
)

// Receive returns up to maxMessages messages. Every ClaimIdle/2 at most, it first
// takes over messages that have been pending longer than ClaimIdle with any
// consumer, this one included; then it reads new messages, waiting up to
// Block for one when it has nothing yet. It returns no messages and no
// error when the wait runs out. When the stream or group has vanished, it
// recreates them and returns nothing.
//
// A message whose stream entry lacks the body field is returned with a nil
// Body, for the caller to set aside as unreadable.
func (c *Consumer) Receive(ctx context.Context, maxMessages int) ([]queue.Message, error) {
	msgs, err := c.receive(ctx, maxMessages)
	if len(msgs) > 0 {
		faultpoint.Hit(faultpoint.QueueAfterFetch)
	}
	return msgs, err
}

// receive is Receive without its fault point.
func (c *Consumer) receive(ctx context.Context, maxMessages int) ([]queue.Message, error) {
	if maxMessages < 1 {
		return nil, event.Errorf(event.Invalid, "receive at least one message")
	}
	msgs, err := c.reclaim(ctx, maxMessages)
	if err != nil {
		return nil, c.recreateGroupIfGone(ctx, err)
	}
	c.hold(msgs)
	if len(msgs) >= maxMessages {
		return msgs, nil
	}
	block := c.q.opts.Block
	if len(msgs) > 0 {
		block = -1 // return the reclaimed messages without waiting
	}
	readCtx, cancel := c.q.bound(ctx, max(block, 0))
	defer cancel()
	streams, err := c.q.client.XReadGroup(readCtx, &redis.XReadGroupArgs{
		Group:    c.q.opts.Group,
		Consumer: c.name,
		Streams:  []string{c.q.opts.Stream, ">"},
		Count:    int64(maxMessages - len(msgs)),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return msgs, nil
	}
	if err != nil {
		err = c.recreateGroupIfGone(ctx, err)
		if len(msgs) > 0 {
			// Hand over what was reclaimed; the error will show again on
			// the next call if it persists.
			return msgs, nil
		}
		return nil, err
	}
	reclaimed := len(msgs)
	for _, s := range streams {
		for _, m := range s.Messages {
			msgs = append(msgs, message(m.ID, m.Values, 1))
		}
	}
	c.hold(msgs[reclaimed:])
	return msgs, nil
}

// hold remembers how many events each message carries, for Ack.
func (c *Consumer) hold(msgs []queue.Message) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	for _, m := range msgs {
		c.held[m.ID] = m.EventCount()
	}
}

// recreateGroupIfGone recreates the stream and group when err says they
// vanished, and otherwise returns err as an *event.Error.
func (c *Consumer) recreateGroupIfGone(ctx context.Context, err error) error {
	if !isNoGroup(err) {
		return wrapErr(err)
	}
	c.mu.Lock()
	c.cursor = "0-0"
	c.mu.Unlock()
	return c.q.EnsureGroup(ctx)
}

// reclaim takes over messages idle longer than ClaimIdle, at most once
// every ClaimIdle/2 unless the last scan stopped early.
func (c *Consumer) reclaim(ctx context.Context, limit int) ([]queue.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Before(c.nextClaim) {
		return nil, nil
	}
	ctx, cancel := c.q.bound(ctx, 0)
	defer cancel()
	res, err := claimScript.Run(ctx, c.q.client, []string{c.q.opts.Stream, c.q.backlogKey},
		c.q.opts.Group, c.name, max(c.q.opts.ClaimIdle.Milliseconds(), 1), c.cursor, limit).Slice()
	if err != nil {
		return nil, err
	}
	cursor, msgs, err := parseClaim(res)
	if err != nil {
		return nil, err
	}
	c.cursor = cursor
	if cursor == "0-0" {
		c.nextClaim = now.Add(c.q.opts.ClaimIdle / 2)
	}
	return msgs, nil
}

// parseClaim reads claimScript's reply.
func parseClaim(res []any) (string, []queue.Message, error) {
	bad := func() (string, []queue.Message, error) {
		return "", nil, fmt.Errorf("unexpected reclaim reply %v", res)
	}
	if len(res) != 2 {
		return bad()
	}
	cursor, ok := res[0].(string)
	entries, ok2 := res[1].([]any)
	if !ok || !ok2 {
		return bad()
	}
	msgs := make([]queue.Message, 0, len(entries))
	for _, e := range entries {
		parts, ok := e.([]any)
		if !ok || len(parts) != 3 {
			return bad()
		}
		id, ok := parts[0].(string)
		fields, ok2 := parts[1].([]any)
		deliveries, ok3 := parts[2].(int64)
		if !ok || !ok2 || !ok3 {
			return bad()
		}
		values := make(map[string]any, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			if k, ok := fields[i].(string); ok {
				values[k] = fields[i+1]
			}
		}
		msgs = append(msgs, message(id, values, int(deliveries)))
	}
	return cursor, msgs, nil
}

// message reads a stream entry. An entry without the events or group field
// (added by hand) carries one event of group 0.
func message(id string, values map[string]any, deliveries int) queue.Message {
	m := queue.Message{ID: id, Deliveries: deliveries, Events: 1}
	if s, ok := values[bodyField].(string); ok {
		m.Body = []byte(s)
	}
	if s, ok := values[eventsField].(string); ok {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			m.Events = n
		}
	}
	if s, ok := values[groupField].(string); ok {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			m.Group = uint32(g)
		}
	}
	return m
}

// Ack acknowledges messages in one call; acknowledged messages are never
// delivered again. The events of each message acknowledged now, and not
// before, leave the backlog. A message that another consumer has taken
// over is left to it (see AckOwn). When the group has vanished there is
// nothing left to acknowledge, and Ack succeeds.
func (c *Consumer) Ack(ctx context.Context, ids []string) error {
	_, err := c.AckOwn(ctx, ids)
	return err
}

// AckOwn acknowledges, in one call, the messages this consumer still holds,
// and reports those it received and holds no more: another consumer
// reclaimed them after ClaimIdle, while this one was paused or cut off,
// and acknowledges them itself. IDs this consumer never received here
// (a process that restarted under the same name) are acknowledged when it
// holds them in the group, and never reported.
func (c *Consumer) AckOwn(ctx context.Context, ids []string) (queue.TakenOver, error) {
	if len(ids) == 0 {
		return queue.TakenOver{}, nil
	}
	args := make([]any, 2, 2+2*len(ids))
	args[0], args[1] = c.q.opts.Group, c.name
	c.heldMu.Lock()
	for _, id := range ids {
		n, ok := c.held[id]
		if !ok {
			n = 1 // not received here: its events are unknown
		}
		args = append(args, id, n)
	}
	c.heldMu.Unlock()
	ctx, cancel := c.q.bound(ctx, 0)
	defer cancel()
	res, err := ackScript.Run(ctx, c.q.client, []string{c.q.opts.Stream, c.q.backlogKey}, args...).Slice()
	if isNoGroup(err) {
		res, err = nil, nil
	}
	if err != nil {
		return queue.TakenOver{}, wrapErr(err)
	}
	var gone []any
	if len(res) == 2 {
		gone, _ = res[1].([]any)
	}
	var lost queue.TakenOver
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	for _, g := range gone {
		id, _ := g.(string)
		if n, ok := c.held[id]; ok {
			lost.Messages++
			lost.Events += n
		}
	}
	for _, id := range ids {
		delete(c.held, id)
	}
	return lost, nil
}

// Close removes the consumer from the group if it has nothing pending, so
// that consumers of stopped workers do not pile up in the group. A consumer
// with pending messages stays, and other consumers reclaim its messages.
func (c *Consumer) Close(ctx context.Context) error {
	ctx, cancel := c.q.bound(ctx, 0)
	defer cancel()
	err := closeScript.Run(ctx, c.q.client, []string{c.q.opts.Stream}, c.q.opts.Group, c.name).Err()
	if isNoGroup(err) {
		return nil
	}
	return wrapErr(err)
}
