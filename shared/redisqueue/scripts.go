package redisqueue

import "github.com/redis/go-redis/v9"

// trimLua defines safe_minid(stream): the ID of the oldest entry that some
// consumer group of the stream still needs, or nil when no entry may be
// dropped. A group needs its oldest pending entry, or, with nothing pending,
// everything after its last-delivered-id. A stream without groups needs
// everything, since no consumer has seen any of it.
const trimLua = `
local function dec_less(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if ams ~= bms then return dec_less(ams, bms) end
  return dec_less(aseq, bseq)
end

-- dec_incr adds one to a decimal string; Lua numbers would lose precision.
local function dec_incr(s)
  local digits = {}
  for i = 1, #s do digits[i] = string.byte(s, i) - 48 end
  local i = #digits
  while i >= 1 do
    if digits[i] < 9 then
      digits[i] = digits[i] + 1
      break
    end
    digits[i] = 0
    i = i - 1
  end
  local out = table.concat(digits)
  if i < 1 then out = '1' .. out end
  return out
end

local function next_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then
    return dec_incr(ms) .. '-0'
  end
  return ms .. '-' .. dec_incr(seq)
end

local function safe_minid(stream)
  local groups = redis.call('XINFO', 'GROUPS', stream)
  if #groups == 0 then return nil end
  local minid = nil
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    local keep
    if f['pending'] > 0 then
      keep = redis.call('XPENDING', stream, f['name'])[2]
    else
      keep = next_id(f['last-delivered-id'])
    end
    if minid == nil or id_less(keep, minid) then minid = keep end
  end
  return minid
end

local function trim(stream)
  if redis.call('EXISTS', stream) == 0 then return 0 end
  local minid = safe_minid(stream)
  if minid == nil then return 0 end
  return redis.call('XTRIM', stream, 'MINID', minid)
end

-- settle zeroes the backlog counter when nothing can be waiting: the stream
-- is empty or gone, or every group has delivered everything and has
-- nothing pending. It mends a counter that entries deleted by hand left
-- too high.
local function settle(stream, backlog)
  if redis.call('EXISTS', stream) == 1 and redis.call('XLEN', stream) > 0 then
    local groups = redis.call('XINFO', 'GROUPS', stream)
    if #groups == 0 then return end
    for _, g in ipairs(groups) do
      local f = {}
      for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
      if f['pending'] ~= 0 or f['lag'] ~= 0 then return end
    end
  end
  redis.call('SET', backlog, 0)
end
`

// trimScript drops the entries no consumer group needs any more, and
// settles the backlog counter. KEYS[1] stream, KEYS[2] backlog counter.
// Returns how many entries it dropped.
var trimScript = redis.NewScript(trimLua + `
local n = trim(KEYS[1])
settle(KEYS[1], KEYS[2])
return n
`)

// publishScript adds every message as one entry and counts its events, or,
// when the events waiting would exceed the backlog limit, or the stream
// would grow past it in entries even after dropping acknowledged ones, adds
// nothing. Being one script, it is all or nothing.
// KEYS[1] stream, KEYS[2] published counter, KEYS[3] backlog counter;
// ARGV[1] backlog limit (0 for none), ARGV[2] the events of all messages,
// then body, events, group of each message. Returns {1} when published,
// {0, events waiting} when the backlog is full, {0, entries, 1} when the
// stream is.
var publishScript = redis.NewScript(trimLua + `
local stream, counter, backlog = KEYS[1], KEYS[2], KEYS[3]
local limit, events = tonumber(ARGV[1]), tonumber(ARGV[2])
local entries = (#ARGV - 2) / 3
if limit > 0 then
  local waiting = math.max(tonumber(redis.call('GET', backlog) or '0'), 0)
  if waiting + events > limit then
    settle(stream, backlog)
    waiting = math.max(tonumber(redis.call('GET', backlog) or '0'), 0)
  end
  if waiting + events > limit then return {0, waiting} end
  local length = redis.call('XLEN', stream)
  if length + entries > limit and length > 0 then
    trim(stream)
    length = redis.call('XLEN', stream)
  end
  if length + entries > limit then return {0, length, 1} end
end
for i = 3, #ARGV, 3 do
  redis.call('XADD', stream, '*', '` + bodyField + `', ARGV[i], '` + eventsField + `', ARGV[i + 1], '` + groupField + `', ARGV[i + 2])
end
redis.call('INCRBY', counter, events)
redis.call('INCRBY', backlog, events)
return {1}
`)

// ackScript acknowledges the entries this consumer holds and takes their
// events off the backlog counter. It leaves alone an entry that another
// consumer holds, or that is no longer pending: this consumer held it past
// the claim threshold (it was paused, or cut off), another reclaimed it,
// and only that one acknowledges it, so that the counter counts it out
// once. It returns the IDs of such entries. The counter never goes below
// zero, which only entries added or deleted by hand would otherwise bring
// about. The counter is the one consumer group's.
// KEYS[1] stream, KEYS[2] backlog counter; ARGV[1] group, ARGV[2]
// consumer, then ID and events of each entry. Returns {events taken off,
// {IDs not held}}.
var ackScript = redis.NewScript(`
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local acked, gone = 0, {}
for i = 3, #ARGV, 2 do
  local p = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == consumer then
    redis.call('XACK', stream, group, ARGV[i])
    acked = acked + tonumber(ARGV[i + 1])
  else
    gone[#gone + 1] = ARGV[i]
  end
end
if acked > 0 and redis.call('DECRBY', KEYS[2], acked) < 0 then redis.call('SET', KEYS[2], 0) end
return {acked, gone}
`)

// claimScript takes over entries pending longer than the idle time from any
// consumer and reports each with its delivery count, which XAUTOCLAIM has
// just raised to include this delivery. Entries that were deleted while
// pending must leave the pending list: Redis 7 drops them itself and lists
// them in a third reply element; Redis 6.2 returns them without fields, and
// the script acknowledges them. Such an entry's events are unknown; it is
// taken off the backlog counter as one.
// KEYS[1] stream, KEYS[2] backlog counter; ARGV group, consumer, min idle
// ms, start cursor, count.
// Returns {next cursor, {{id, {field, value, …}, deliveries}, …}}.
var claimScript = redis.NewScript(`
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local r = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if e then
    if e[2] then
      local p = redis.call('XPENDING', stream, group, e[1], e[1], 1, consumer)
      if #p == 1 then out[#out + 1] = {e[1], e[2], p[1][4]} end
    elseif redis.call('XACK', stream, group, e[1]) == 1 and redis.call('DECR', KEYS[2]) < 0 then
      redis.call('SET', KEYS[2], 0)
    end
  end
end
if r[3] and #r[3] > 0 and redis.call('DECRBY', KEYS[2], #r[3]) < 0 then redis.call('SET', KEYS[2], 0) end
return {r[1], out}
`)

// closeScript removes a consumer from the group unless it still holds
// pending entries. KEYS[1] stream; ARGV group, consumer. Returns 1 when it
// removed the consumer.
var closeScript = redis.NewScript(`
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// pruneScript removes the group's consumers that hold no pending entry and
// have been idle at least the given time: those of processes that are gone.
// A live consumer that is removed is recreated by its next read.
// KEYS[1] stream; ARGV group, idle ms. Returns how many it removed.
var pruneScript = redis.NewScript(`
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    removed = removed + 1
  end
end
return removed
`)
