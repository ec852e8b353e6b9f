// Package redisqueue is the queue on a Redis Stream read through one
// consumer group (Redis 7 or later).
//
// Keys: the stream (Options.Stream, one entry per message: its body in the
// field "e", how many events it carries in "n", its routing group in "g"),
// the counter of events published "<Stream>:published", and the counter of
// events published and not yet acknowledged "<Stream>:backlog". Scripts
// touch them at once, so on Redis Cluster the stream name needs a hash tag,
// e.g. "{logagg}:events".
//
// Acknowledged entries stay in the stream until Trim drops them, so the
// process that runs consumers should call Trim now and then. Publish with a
// MaxBacklog also trims by itself when the stream looks full, so the limit
// is never reached by acknowledged entries alone.
package redisqueue

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/shared/event"
	"github.com/logagg/logagg/shared/queue"
)

// The fields of a stream entry.
const (
	bodyField   = "e" // the message body
	eventsField = "n" // how many events the body carries
	groupField  = "g" // the routing group
)

// The defaults of Options (STREAM_NAME, CONSUMER_GROUP, CLAIM_IDLE).
const (
	DefaultStream    = "logagg:events"
	DefaultGroup     = "logagg"
	DefaultClaimIdle = 30 * time.Second
)

// DefaultTimeout bounds each call to Redis when Options leave Timeout 0.
// Redis answers in milliseconds; a call that takes seconds has lost its
// server, and a caller waiting on it — a /publish request, a worker —
// is better told so, to answer 503 or retry, than kept waiting for as long
// as a silently dropping network lets a connection hang.
const DefaultTimeout = 3 * time.Second

// Options configure a Queue. Zero fields take their defaults.
type Options struct {
	Stream     string        // stream key; default "logagg:events"
	Group      string        // consumer group; default "logagg"
	MaxBacklog int64         // Publish refuses with Overloaded when the events waiting, or the stream's entries, would exceed it; 0 = no limit
	ClaimIdle  time.Duration // messages pending longer than this are reclaimed by other consumers; default 30s
	Block      time.Duration // how long Receive waits for new messages; default 1s
	// Timeout bounds every call to Redis, retries included (a read that
	// waits for new messages: Block more); default DefaultTimeout. It
	// takes a client from NewClient: go-redis ignores the deadline of a
	// call otherwise.
	Timeout time.Duration
}

// Queue publishes to a Redis Stream and hands out its consumers.
type Queue struct {
	client     redis.UniversalClient
	opts       Options
	counterKey string // events published
	backlogKey string // events published and not yet acknowledged
}

var (
	_ queue.Publisher = (*Queue)(nil)
	_ queue.Counter   = (*Queue)(nil)
	_ queue.Pinger    = (*Queue)(nil)
)

// New returns a queue on client, which should come from NewClient. It does
// not talk to Redis; consumers need
// the group, which EnsureGroup creates (Receive also recreates it when it
// has vanished).
func New(client redis.UniversalClient, opts Options) *Queue {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	if opts.ClaimIdle <= 0 {
		opts.ClaimIdle = DefaultClaimIdle
	}
	if opts.Block <= 0 {
		opts.Block = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Queue{client: client, opts: opts, counterKey: opts.Stream + ":published", backlogKey: opts.Stream + ":backlog"}
}

// EnsureGroup creates the stream and its consumer group if they do not
// exist. A new group starts at the beginning of the stream, not at its end:
// when the group vanished (Redis restarted without persistence) and
// publishers have since recreated the stream, their entries are delivered
// rather than skipped. Redis refuses XGROUP CREATE once it is over its
// maxmemory, even for a group that exists; the group is then looked up, so
// that a process can start while Redis is full.
func (q *Queue) EnsureGroup(ctx context.Context) error {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	err := q.client.XGroupCreateMkStream(ctx, q.opts.Stream, q.opts.Group, "0").Err()
	if isOutOfMemory(err) {
		if exists, lookErr := q.groupExists(ctx); lookErr == nil && exists {
			return nil
		}
	}
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return wrapErr(err)
	}
	return nil
}

// Publish adds every message as one stream entry and counts its events,
// all in one script, so that either all are queued and counted or none is.
// It refuses with Overloaded when the events waiting would exceed
// MaxBacklog, and when Redis is over its maxmemory. Publishing nothing is
// a no-op.
func (q *Queue) Publish(ctx context.Context, msgs []queue.Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	args := make([]any, 2, 2+3*len(msgs))
	events := 0
	for _, m := range msgs {
		args = append(args, m.Body, m.EventCount(), m.Group)
		events += m.EventCount()
	}
	args[0], args[1] = q.opts.MaxBacklog, events
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	res, err := publishScript.Run(ctx, q.client, []string{q.opts.Stream, q.counterKey, q.backlogKey}, args...).Int64Slice()
	if isOutOfMemory(err) {
		// Refused at the script's first write: nothing was added.
		return outOfMemory(err)
	}
	if err != nil {
		return wrapErr(err)
	}
	switch {
	case len(res) == 2 && res[0] == 0:
		return event.Errorf(event.Overloaded,
			"queue backlog is full (%d of %d events waiting); retry later", res[1], q.opts.MaxBacklog)
	case len(res) == 3 && res[0] == 0:
		return event.Errorf(event.Overloaded,
			"queue backlog is full (the stream holds %d of %d entries); retry later", res[1], q.opts.MaxBacklog)
	}
	return nil
}

// Published returns how many events Publish has queued in all.
func (q *Queue) Published(ctx context.Context) (int64, error) {
	return q.count(ctx, q.counterKey)
}

// Ping reports whether Redis answers.
func (q *Queue) Ping(ctx context.Context) error {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	return wrapErr(q.client.Ping(ctx).Err())
}

// Backlog returns how many events are published and not yet
// acknowledged, delivered or not. Entries deleted from the stream by hand
// stay counted until Trim finds the group caught up, or the stream empty.
func (q *Queue) Backlog(ctx context.Context) (int64, error) {
	n, err := q.count(ctx, q.backlogKey)
	return max(n, 0), err
}

// count reads one of the queue's counters; one never set is 0.
func (q *Queue) count(ctx context.Context, key string) (int64, error) {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	n, err := q.client.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, wrapErr(err)
}

// Trim drops the stream's entries that every consumer group has
// acknowledged, and returns how many it dropped. An entry that some group
// has not acknowledged, delivered or not, is never dropped. When nothing
// can be waiting any more, it also sets the backlog to zero.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	n, err := trimScript.Run(ctx, q.client, []string{q.opts.Stream, q.backlogKey}).Int64()
	return n, wrapErr(err)
}

// PruneConsumers removes from the group the consumers that hold nothing
// pending and have been idle at least idle, and returns how many it removed.
// A process that was killed leaves its consumer behind (one that stops
// cleanly removes its own, Consumer.Close); once others have reclaimed its
// messages, this takes it out of XINFO CONSUMERS.
func (q *Queue) PruneConsumers(ctx context.Context, idle time.Duration) (int64, error) {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	n, err := pruneScript.Run(ctx, q.client, []string{q.opts.Stream}, q.opts.Group, idle.Milliseconds()).Int64()
	if isNoGroup(err) || redis.HasErrorPrefix(err, "no such key") {
		return 0, nil
	}
	return n, wrapErr(err)
}

// Consumer returns the group's consumer with this name. Names must be
// unique among live workers; a restarted worker may reuse its name.
func (q *Queue) Consumer(name string) *Consumer {
	return &Consumer{q: q, name: name, cursor: "0-0", held: map[string]int{}}
}

// bound is ctx ended after the queue's Timeout, and wait more for a call
// that waits on purpose.
func (q *Queue) bound(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, q.opts.Timeout+wait)
}

// wrapErr turns a Redis error into an *event.Error: Unavailable when Redis
// cannot be reached or cannot serve for now, Internal for any other reply
// error (a bug, or a key of the wrong type).
func wrapErr(err error) error {
	if err == nil {
		return nil
	}
	var reply redis.Error
	if errors.As(err, &reply) && !isTransient(err) {
		return event.Wrap(event.Internal, err, "queue error")
	}
	return event.Wrap(event.Unavailable, err, "queue unavailable")
}

// isTransient reports whether a reply error says Redis cannot serve now but
// may soon.
func isTransient(err error) bool {
	for _, prefix := range []string{
		"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
		"OOM", "BUSY", "NOREPLICAS", "MISCONF", "max number of clients",
	} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// isNoGroup reports whether err says the stream or its group does not
// exist. Errors raised inside scripts carry the code after a prefix.
func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}
