#!lua name=wordcount_mr_buggy
--[[ Helpers of the known-buggy MapReduce engines (faults/buggy_mapreduce.py). Each keeps
the real library's bookkeeping so that, apart from its one bug, it behaves alike. ]]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The real finish rule, with reduces_done taken from the set of reduced partitions.
local function finish(keys, args)
  local job, maps, reduced = keys[1], keys[2], keys[3]
  redis.call('HSET', job, 'reduces_done', redis.call('SCARD', reduced))
  local f = redis.call('HMGET', job, 'state', 'n_tasks', 'tasks_failed', 'n_reduces')
  local settled = redis.call('HLEN', maps) + (tonumber(f[3]) or 0)
  if f[1] ~= 'ready' or settled < (tonumber(f[2]) or 0)
      or redis.call('SCARD', reduced) < (tonumber(f[4]) or 0) then
    return f[1]
  end
  local state = 'done'
  if (tonumber(f[3]) or 0) > 0 then
    state = 'failed'
  end
  redis.call('HSET', job, 'state', state, 'finished_ms', now_ms())
  return state
end

-- Add the reduce entries now, whatever the maps are doing. KEYS: job, reduces. ARGV: group.
local function release(keys, args)
  local created = redis.pcall('XGROUP', 'CREATE', keys[2], args[1], '0', 'MKSTREAM')
  if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
    return created
  end
  local m = tonumber(redis.call('HGET', keys[1], 'n_reduces')) or 0
  for p = redis.call('XLEN', keys[2]), m - 1 do
    redis.call('XADD', keys[2], (p + 1) .. '-0', 'partition', p)
  end
  return 1
end

-- The real reduce commit without its gate: no check that every map is committed.
-- KEYS: reduces, job, counts, reduced, maps. ARGV: group, consumer, entry, partition, {c, w, ...}
local function commit_ungated(keys, args)
  local ok, rows = pcall(redis.call, 'XPENDING', keys[1], args[1], args[3], args[3], 1, args[2])
  if not ok or #rows ~= 1 then
    return {0, 'not-owner'}
  end
  local pairs = cmsgpack.unpack(args[5])
  redis.call('XACK', keys[1], args[1], args[3])
  redis.call('SADD', keys[4], args[4])
  for i = 1, #pairs, 2000 do
    redis.call('ZADD', keys[3], unpack(pairs, i, math.min(i + 1999, #pairs)))
  end
  finish({keys[2], keys[5], keys[4]}, {})
  return {1, 1}
end

redis.register_function('mrb_finish', finish)
redis.register_function('mrb_release', release)
redis.register_function('mrb_commit_ungated', commit_ungated)
