#!lua name=wordcount_mr
--[[
The atomic steps of the MapReduce mode. As in wordcount.lua, each function validates
everything before its first write, because a Redis Function cannot roll back.

A map task's commit acknowledges it and records its outputs (input bytes, then size and
checksum of each partition file) in one step, keyed by the task's index: committing the
same map twice records it once. Reduce tasks appear (one stream entry per partition) once
every map task is recorded or dead-lettered. A reduce commit acknowledges its entry and
SETS (ZADD) the final count of each word of its partition, once, and only while the map
outputs it merged are still the recorded ones; a repeated or stale commit changes nothing.
No call does unbounded work (Redis answers nobody else meanwhile, and BUSY past its busy
threshold): a partition of more words than one call may take is staged first, in parts
(stage), and the commit records the staging hash in the job's ledger of applications in
flight (job field 'applying' > 0); apply then sets one part's counts per call and deletes
that part in the same call. The job finishes only when no application is in flight.
]]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function owned(stream, group, consumer, id)
  local ok, rows = pcall(redis.call, 'XPENDING', stream, group, id, id, 1, consumer)
  return ok and #rows == 1
end

local function invalid(err)
  return redis.error_reply('ERR wordcount_mr: invalid payload: ' .. err)
end

-- How many map tasks are settled (recorded or dead-lettered), and how many there are.
local function maps_settled(job, maps)
  local f = redis.call('HMGET', job, 'state', 'n_tasks', 'tasks_failed')
  local settled = redis.call('HLEN', maps) + (tonumber(f[3]) or 0)
  return f[1], settled, tonumber(f[2]) or 0
end

-- Once every map task is settled, add one reduce entry per partition (IDs <p + 1>-0, so
-- doing it again adds nothing).
local function release_reduces(job, maps, reduces, group)
  local state, settled, n = maps_settled(job, maps)
  if state ~= 'ready' or settled < n then
    return 0
  end
  local created = redis.pcall('XGROUP', 'CREATE', reduces, group, '0', 'MKSTREAM')
  if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
    return created
  end
  local m = tonumber(redis.call('HGET', job, 'n_reduces')) or 0
  local have = redis.call('XLEN', reduces)
  for p = have, m - 1 do
    redis.call('XADD', reduces, (p + 1) .. '-0', 'partition', p)
  end
  return 1
end

local function finish_if_complete(job, maps)
  local state, settled, n = maps_settled(job, maps)
  if state ~= 'ready' or settled < n then
    return state
  end
  local f = redis.call('HMGET', job, 'n_reduces', 'reduces_done', 'tasks_failed', 'applying')
  if (tonumber(f[2]) or 0) < (tonumber(f[1]) or 0) or (tonumber(f[4]) or 0) > 0 then
    return state
  end
  local final = 'done'
  if (tonumber(f[3]) or 0) > 0 then
    final = 'failed'
  end
  redis.call('HSET', job, 'state', final, 'finished_ms', now_ms())
  return final
end

-- sha1 of the recorded map outputs, in index order: what a reducer merged.
local function outputs_digest(maps)
  local raw = redis.call('HGETALL', maps)
  local index, by = {}, {}
  for i = 1, #raw, 2 do
    local k = tonumber(raw[i])
    index[#index + 1] = k
    by[k] = raw[i + 1]
  end
  table.sort(index)
  local parts = {}
  for _, k in ipairs(index) do
    parts[#parts + 1] = k .. '=' .. by[k] .. ';'
  end
  return redis.sha1hex(table.concat(parts))
end

--[[ declare: record the mode before any task exists, so workers that see the job see
its mode. A job declared already keeps its directory and partitions (a resumed run may
have other --workers). KEYS: job. ARGV: intermediate dir, number of reduce partitions.
Returns {dir, partitions} as recorded, or an error if the job exists in stream mode. ]]
local function declare(keys, args)
  local f = redis.call('HMGET', keys[1], 'settings', 'mode', 'intermediate', 'n_reduces')
  if f[1] and f[2] ~= 'mapreduce' then
    return redis.error_reply('ERR wordcount_mr: job exists in stream mode')
  end
  if f[2] == 'mapreduce' and f[3] and f[4] then
    return {f[3], f[4]}
  end
  redis.call('HSET', keys[1], 'mode', 'mapreduce', 'intermediate', args[1], 'n_reduces', args[2])
  return {args[1], args[2]}
end

--[[ mark_ready: the map task list is complete. KEYS: tasks, job, maps, reduces.
ARGV: number of map tasks, total bytes, group. Returns the job's state. ]]
local function mark_ready(keys, args)
  local state = redis.call('HGET', keys[2], 'state')
  if state ~= 'bootstrapping' then
    return state or redis.error_reply('ERR wordcount_mr: no such job')
  end
  local n = tonumber(args[1])
  local last = redis.call('XREVRANGE', keys[1], '+', '-', 'COUNT', 1)
  local have = 0
  if #last == 1 then
    have = tonumber(string.match(last[1][1], '^(%d+)'))
  end
  if have < n then
    return redis.error_reply('ERR wordcount_mr: stream has ' .. have .. ' of ' .. n .. ' tasks')
  end
  redis.call('HSET', keys[2], 'state', 'ready', 'n_tasks', n, 'bytes_total', args[2])
  redis.call('HSETNX', keys[2], 'reduces_done', 0)
  release_reduces(keys[2], keys[3], keys[4], args[3])
  return finish_if_complete(keys[2], keys[3])
end

--[[ map_commit: acknowledge a map task and record its outputs, all or nothing.
KEYS: tasks, job, done, maps, reduces. ARGV: group, consumer, entry id, task index,
record, input bytes. Returns {1, recorded now?} or {0, reason}. ]]
local function map_commit(keys, args)
  local tasks, job, done, maps, reduces = keys[1], keys[2], keys[3], keys[4], keys[5]
  local index, nbytes = tonumber(args[4]), tonumber(args[6])
  if not index or not nbytes or args[5] == '' then
    return invalid('bad task index, byte count or record')
  end
  if not owned(tasks, args[1], args[2], args[3]) then
    return {0, 'not-owner'}
  end
  redis.call('XACK', tasks, args[1], args[3])
  local fresh = redis.call('HSET', maps, index, args[5])
  if fresh == 1 then
    redis.call('SADD', done, (index + 1) .. '-0')
    redis.call('HINCRBY', job, 'tasks_done', 1)
    redis.call('HINCRBY', job, 'bytes_done', nbytes)
  end
  release_reduces(job, maps, reduces, args[1])
  finish_if_complete(job, maps)
  return {1, fresh}
end

-- Decode and validate {c1, w1, c2, w2, ...} (ZADD's own order): counts positive integers,
-- words non-empty strings. Returns the array, or nil and what is wrong.
local function scored_pairs(packed)
  local ok, pairs = pcall(cmsgpack.unpack, packed)
  if not ok or type(pairs) ~= 'table' or #pairs % 2 ~= 0 then
    return nil, 'the word counts are not a msgpack array of pairs'
  end
  for i = 1, #pairs, 2 do  -- ZADD must not fail half-way: check every pair first
    local count, word = pairs[i], pairs[i + 1]
    if type(count) ~= 'number' or count < 1 or count ~= math.floor(count) then
      return nil, 'the count of item ' .. i .. ' is not a positive integer'
    end
    if type(word) ~= 'string' or word == '' then
      return nil, 'item ' .. (i + 1) .. ' is not a non-empty word'
    end
  end
  return pairs
end

local function zadd_all(counts, pairs)
  for i = 1, #pairs, 2000 do  -- the pairs are ZADD's arguments already: score, member
    redis.call('ZADD', counts, unpack(pairs, i, math.min(i + 1999, #pairs)))
  end
end

--[[ reduce_commit: acknowledge a reduce task and set its words' final counts: inline, or,
for a partition staged in parts (stage), by recording its staging hash in the ledger for
apply. KEYS: reduces, job, counts, reduced, maps, ledger, then the staging hash if any.
ARGV: group, consumer, entry id, partition, msgpack {c, w, ...} (ZADD's order), outputs
digest, staged parts (0: none). Returns {1, first time?} or {0, reason}. ]]
local function reduce_commit(keys, args)
  local reduces, job, counts, reduced, maps = keys[1], keys[2], keys[3], keys[4], keys[5]
  local ledger, staging = keys[6], keys[7]
  local pairs, err = scored_pairs(args[5])
  if not pairs then
    return invalid(err)
  end
  local staged = tonumber(args[7]) or 0
  if (staged > 0) ~= (staging ~= nil) then
    return invalid('a staged part count needs exactly one staging hash')
  end
  if not owned(reduces, args[1], args[2], args[3]) then
    return {0, 'not-owner'}
  end
  local state, settled, n = maps_settled(job, maps)
  if state ~= 'ready' or settled < n then
    return {0, 'maps-incomplete'}
  end
  if outputs_digest(maps) ~= args[6] then
    return {0, 'maps-changed'}
  end
  if staged > 0 then  -- exactly parts 1..n, all there (a rollback may have lost some)
    if redis.call('HLEN', staging) ~= staged then
      return {0, 'stage-incomplete'}
    end
    for i = 1, staged do
      if redis.call('HEXISTS', staging, tostring(i)) ~= 1 then
        return {0, 'stage-incomplete'}
      end
    end
  end
  -- Validation is over: from here on every step writes.
  redis.call('XACK', reduces, args[1], args[3])
  local first = redis.call('SADD', reduced, args[4])
  if first == 1 then
    redis.call('HINCRBY', job, 'reduces_done', 1)
  end
  zadd_all(counts, pairs)
  if staged > 0 then
    redis.call('PERSIST', staging)
    redis.call('HSET', ledger, staging, staged)
    redis.call('HINCRBY', job, 'applying', 1)
  end
  finish_if_complete(job, maps)
  return {1, first}
end

--[[ stage: store part `number` of a reduce task's counts, {c, w, ...} as the commit takes
them, in the attempt's own staging hash. Idempotent; refused once the task is not this
consumer's. KEYS: reduces, staging hash. ARGV: group, consumer, entry id, part number,
msgpack, ttl ms. Returns 1 if stored. ]]
local function stage(keys, args)
  local pairs, err = scored_pairs(args[5])
  if not pairs then
    return invalid(err)
  end
  if not owned(keys[1], args[1], args[2], args[3]) then
    return 0
  end
  redis.call('HSET', keys[2], args[4], args[5])
  redis.call('PEXPIRE', keys[2], tonumber(args[6]) or 86400000)
  return 1
end

--[[ apply: set the counts of one staged part of a committed reduce task and delete the
part, so each part is applied once whoever calls (the committing worker, or any other if
it died). KEYS: job, ledger, counts, staging hash, maps. Returns the parts left (0: done,
or not an application in flight). ]]
local function apply(keys, args)
  local job, ledger, counts, staging = keys[1], keys[2], keys[3], keys[4]
  local nparts = tonumber(redis.call('HGET', ledger, staging))
  if not nparts then
    return 0
  end
  for i = 1, nparts do
    local part = redis.call('HGET', staging, tostring(i))
    if part then
      zadd_all(counts, cmsgpack.unpack(part))  -- validated when staged
      redis.call('HDEL', staging, tostring(i))
      break
    end
  end
  local left = redis.call('HLEN', staging)
  if left == 0 then
    redis.call('HDEL', ledger, staging)
    redis.call('HINCRBY', job, 'applying', -1)
    finish_if_complete(job, keys[5])
  end
  return left
end

--[[ redo_map: a committed map's output is lost or corrupt. If its record is still the
one the reducer checked, forget it and queue the map again (a new entry: stream IDs only
grow), and make the reducer's own reduce entry stealable at once.
KEYS: tasks, job, done, maps, reduces. ARGV: group, consumer, task index, record,
reduce entry id, then the task's fields. Returns 1 if queued again, 0 if already done. ]]
local function redo_map(keys, args)
  local tasks, job, done, maps, reduces = keys[1], keys[2], keys[3], keys[4], keys[5]
  local index = tonumber(args[3])
  if redis.call('HGET', maps, index) ~= args[4] then
    return 0
  end
  redis.call('HDEL', maps, index)
  redis.call('SREM', done, (index + 1) .. '-0')
  redis.call('HINCRBY', job, 'tasks_done', -1)
  redis.call('HINCRBY', job, 'bytes_done', -(tonumber(string.match(args[4], '^(%d+)')) or 0))
  redis.call('XADD', tasks, '*', unpack(args, 6))
  if owned(reduces, args[1], args[2], args[5]) then
    redis.call('XCLAIM', reduces, args[1], args[2], 0, args[5], 'IDLE', 1000000000, 'JUSTID')
  end
  return 1
end

--[[ release: give a reduce entry this consumer holds back at once (idle time set past any
claim timeout), when it cannot be committed until a map runs again.
KEYS: reduces. ARGV: group, consumer, entry id. Returns 1 if released. ]]
local function release(keys, args)
  if not owned(keys[1], args[1], args[2], args[3]) then
    return 0
  end
  redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[3], 'IDLE', 1000000000, 'JUSTID')
  return 1
end

--[[ dead_letter: give up on a map task (as wc_dead_letter), then release the reduces if
it was the last one. KEYS: tasks, dead, job, maps, reduces.
ARGV: group, consumer, entry id, index, path, error. ]]
local function dead_letter(keys, args)
  if not owned(keys[1], args[1], args[2], args[3]) then
    return 0
  end
  redis.call('XACK', keys[1], args[1], args[3])
  redis.call('XADD', keys[2], '*', 'entry', (tonumber(args[4]) + 1) .. '-0', 'index', args[4],
    'path', args[5], 'error', args[6], 'consumer', args[2])
  redis.call('HINCRBY', keys[3], 'tasks_failed', 1)
  release_reduces(keys[3], keys[4], keys[5], args[1])
  finish_if_complete(keys[3], keys[4])
  return 1
end

redis.register_function('mr_declare', declare)
redis.register_function('mr_mark_ready', mark_ready)
redis.register_function('mr_map_commit', map_commit)
redis.register_function('mr_reduce_commit', reduce_commit)
redis.register_function('mr_redo_map', redo_map)
redis.register_function('mr_dead_letter', dead_letter)
redis.register_function('mr_release', release)
redis.register_function('mr_stage', stage)
redis.register_function('mr_apply', apply)
