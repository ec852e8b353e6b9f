package redisqueue

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/logagg/logagg/shared/event"
)

// When Redis reaches its maxmemory under the noeviction policy, it refuses
// every command that may grow memory (OOM). It still runs the commands
// that consume the queue — XREADGROUP, XACK, XAUTOCLAIM, XCLAIM, XTRIM —
// and, in a script without flags, every command after the script's first
// write, so the acknowledging and reclaiming scripts, which write first
// with XACK or XAUTOCLAIM, also keep their counters exact. Publishing is
// refused until consumers have drained the stream and trimming has freed
// the entries.

// isOutOfMemory reports whether err is Redis refusing a command, or a
// script, because it is over its maxmemory.
func isOutOfMemory(err error) bool {
	return err != nil && redis.HasErrorPrefix(err, "OOM")
}

// outOfMemory is what Publish answers when Redis is full.
func outOfMemory(err error) error {
	return event.Wrap(event.Overloaded, err,
		"the queue is full: Redis has reached its maxmemory; retry later, once consumers have drained it")
}

// groupExists reports whether the stream has the queue's consumer group.
func (q *Queue) groupExists(ctx context.Context) (bool, error) {
	groups, err := q.client.XInfoGroups(ctx, q.opts.Stream).Result()
	if err != nil {
		if redis.HasErrorPrefix(err, "ERR no such key") {
			return false, nil
		}
		return false, err
	}
	for _, g := range groups {
		if g.Name == q.opts.Group {
			return true, nil
		}
	}
	return false, nil
}
