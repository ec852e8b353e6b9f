package redisqueue

import (
	"context"
	"strings"

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

// EvictionPolicy returns Redis's maxmemory-policy (CONFIG GET), for
// Evicts to judge. Managed Redis services often rename or forbid CONFIG:
// Redis's refusal is then an error with code Internal, which the caller
// may note and go on; an unreachable Redis is Unavailable.
func (q *Queue) EvictionPolicy(ctx context.Context) (string, error) {
	ctx, cancel := q.bound(ctx, 0)
	defer cancel()
	res, err := q.client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return "", wrapErr(err)
	}
	policy, ok := res["maxmemory-policy"]
	if !ok {
		return "", event.Errorf(event.Internal, "Redis did not say what its maxmemory-policy is")
	}
	return policy, nil
}

// Evicts reports whether a maxmemory-policy lets Redis delete the queue's
// keys to make room: the allkeys-* policies would silently drop the stream
// (events that were acknowledged with a 202) or its counters. The
// volatile-* policies evict only keys with an expiry, which the queue never
// sets, and otherwise refuse writes as noeviction does.
func Evicts(policy string) bool {
	return strings.HasPrefix(policy, "allkeys-")
}
