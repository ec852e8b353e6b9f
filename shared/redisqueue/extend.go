package redisqueue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// extendScript resets the idle time of the entries this consumer still
// holds, without counting a delivery (XCLAIM … JUSTID), and leaves alone
// those another consumer has taken over or that were acknowledged.
// KEYS[1] stream; ARGV group, consumer, IDs. Returns how many it extended.
var extendScript = redis.NewScript(`
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local mine = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == consumer then mine[#mine + 1] = ARGV[i] end
end
for from = 1, #mine, 1000 do
  local args = {'XCLAIM', stream, group, consumer, 0}
  for i = from, math.min(from + 999, #mine) do args[#args + 1] = mine[i] end
  args[#args + 1] = 'JUSTID'
  redis.call(unpack(args))
end
return #mine
`)

// Extend keeps messages this consumer holds from being reclaimed by other
// consumers for another ClaimIdle, without raising their delivery counts.
// A worker that is still working on its messages — retrying them while the
// database is down, say — calls it more often than ClaimIdle, so that only
// the messages of a consumer that stopped calling (one that died) are
// reclaimed, and delivery counts count such deaths rather than retries.
// IDs it no longer holds are skipped.
func (c *Consumer) Extend(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, 2+len(ids))
	args = append(args, c.q.opts.Group, c.name)
	for _, id := range ids {
		args = append(args, id)
	}
	ctx, cancel := c.q.bound(ctx, 0)
	defer cancel()
	err := extendScript.Run(ctx, c.q.client, []string{c.q.opts.Stream}, args...).Err()
	if isNoGroup(err) {
		return nil
	}
	return wrapErr(err)
}
