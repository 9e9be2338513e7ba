#!lua name=wordcount
--[[
The atomic steps of the word count. Each function checks everything it needs before
its first write, because a Redis Function cannot roll back: a bad payload or a task
that is no longer this worker's leaves the data untouched.

Pairs of words and counts travel packed as one msgpack array {w1, c1, w2, c2, ...} so
that a commit is one argument, not tens of thousands.
]]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Is entry `id` pending in `group` and delivered to `consumer`? False when the group
-- itself is gone (Redis lost its data): then nothing is anyone's.
local function owned(stream, group, consumer, id)
  local ok, rows = pcall(redis.call, 'XPENDING', stream, group, id, id, 1, consumer)
  return ok and #rows == 1
end

local function unpack_array(packed, what)
  if packed == nil or packed == '' then
    return {}
  end
  local ok, value = pcall(cmsgpack.unpack, packed)
  if not ok or type(value) ~= 'table' then
    return nil, what .. ' is not a msgpack array'
  end
  return value
end

-- Decode and validate {w1, c1, ...}: words non-empty strings, counts positive integers.
local function decode_pairs(packed)
  local pairs, err = unpack_array(packed, 'the word counts')
  if not pairs then
    return nil, err
  end
  if #pairs % 2 ~= 0 then
    return nil, 'the word counts have an odd number of items'
  end
  for i = 1, #pairs, 2 do
    local word, count = pairs[i], pairs[i + 1]
    if type(word) ~= 'string' or word == '' then
      return nil, 'item ' .. i .. ' is not a non-empty word'
    end
    if type(count) ~= 'number' or count < 1 or count ~= math.floor(count) then
      return nil, 'the count of item ' .. i .. ' is not a positive integer'
    end
  end
  return pairs
end

local function invalid(err)
  return redis.error_reply('ERR wordcount: invalid payload: ' .. err)
end

-- Mark the job finished once every task is acknowledged or dead-lettered; only a job
-- whose task list is complete (state 'ready') can finish.
local function finish_if_complete(job)
  local f = redis.call('HMGET', job, 'state', 'n_tasks', 'tasks_done', 'tasks_failed',
    'applying')
  if f[1] ~= 'ready' or (tonumber(f[5]) or 0) > 0 then
    return f[1]
  end
  local failed = tonumber(f[4]) or 0
  if (tonumber(f[3]) or 0) + failed < (tonumber(f[2]) or 0) then
    return f[1]
  end
  local state = 'done'
  if failed > 0 then
    state = 'failed'
  end
  redis.call('HSET', job, 'state', state, 'finished_ms', now_ms())
  return state
end

-- Each worker's tallies in the job hash, for the status page (engine/web, field names in
-- engine/keys.py): tasks and bytes committed, first and last commit time. A task's worker
-- is forgotten once it is acknowledged, so only the commit can record it.
local function tally(job, consumer, ntasks, nbytes)
  local field, now = 'w:' .. consumer .. ':', now_ms()
  redis.call('HINCRBY', job, field .. 'tasks', ntasks)
  redis.call('HINCRBY', job, field .. 'bytes', nbytes)
  redis.call('HSETNX', job, field .. 'first_ms', now)
  redis.call('HSET', job, field .. 'last_ms', now)
end

--[[ Bounded work. Redis answers nobody else while a function runs, and past its busy
threshold (5 s) it answers BUSY, so no call may do unbounded work. A batch of up to
50,000 words (the worker's part size) is committed in one call. A larger one is first
staged in parts of that size (stage), each one hash field of a staging hash keyed per
attempt (batch, worker and a random token: no other attempt ever writes to it); the commit
then checks that hash's exact parts, acknowledges the batch and records the hash in the
job's ledger of applications in flight (job field 'applying' > 0); apply then merges one
part per call into the counts, deleting it in the same call, so each part is applied once
whoever calls it (the committing worker, or any other if it died). The job finishes only
once no application is in flight, and a reader wanting counts that match the acknowledged
tasks exactly reads when 'applying' is 0. ]]

--[[ commit: acknowledge a batch of tasks and add their counts, all or nothing.
KEYS: stream, counts, job, done, ledger[, staging hash].
ARGV: group, consumer, msgpack {entry ids}, msgpack {w, c, ...}, bytes counted,
      number of parts in the staging hash (0: nothing staged).
Returns {1, n} when committed, {0, reason, detail} when refused (nothing written). ]]
local function commit(keys, args)
  local stream, counts, job, done, ledger = keys[1], keys[2], keys[3], keys[4], keys[5]
  local group, consumer = args[1], args[2]
  local ids, err = unpack_array(args[3], 'the entry IDs')
  if not ids then
    return invalid(err)
  end
  local pairs, perr = decode_pairs(args[4])
  if not pairs then
    return invalid(perr)
  end
  local nbytes, nparts = tonumber(args[5]), tonumber(args[6])
  if not nbytes or not nparts or #ids == 0 or (nparts > 0) ~= (#keys == 6) then
    return invalid('bad byte count, part count or empty batch')
  end
  local seen = {}
  for _, id in ipairs(ids) do
    if seen[id] then  -- its second XACK would fail after the first had written
      return invalid('entry ' .. id .. ' appears twice in the batch')
    end
    seen[id] = true
    if not owned(stream, group, consumer, id) then
      return {0, 'not-owner', id}
    end
  end
  if nparts > 0 then  -- exactly parts 1..n, all there (a rollback may have lost some)
    if redis.call('HLEN', keys[6]) ~= nparts then
      return {0, 'stage-incomplete', keys[6]}
    end
    for i = 1, nparts do
      if redis.call('HEXISTS', keys[6], tostring(i)) ~= 1 then
        return {0, 'stage-incomplete', keys[6]}
      end
    end
  end
  -- Validation is over: from here on every step writes.
  for _, id in ipairs(ids) do
    if redis.call('XACK', stream, group, id) ~= 1 then
      return redis.error_reply('ERR wordcount: XACK of ' .. id .. ' did not return 1')
    end
    redis.call('SADD', done, id)
  end
  for i = 1, #pairs, 2 do
    redis.call('ZINCRBY', counts, pairs[i + 1], pairs[i])
  end
  redis.call('HINCRBY', job, 'tasks_done', #ids)
  redis.call('HINCRBY', job, 'bytes_done', nbytes)
  tally(job, consumer, #ids, nbytes)
  if nparts > 0 then
    redis.call('PERSIST', keys[6])
    redis.call('HSET', ledger, keys[6], nparts)
    redis.call('HINCRBY', job, 'applying', 1)
  end
  finish_if_complete(job)
  return {1, #ids}
end

--[[ apply: merge one staged part of a committed batch into the counts (see above).
KEYS: job, ledger, counts, staging hash. Returns the number of parts left (0: done, or
not an application in flight). ]]
local function apply(keys, args)
  local job, ledger, counts, staging = keys[1], keys[2], keys[3], keys[4]
  local nparts = tonumber(redis.call('HGET', ledger, staging))
  if not nparts then
    return 0
  end
  for i = 1, nparts do
    local part = redis.call('HGET', staging, tostring(i))
    if part then
      local pairs = decode_pairs(part)  -- validated when staged
      for j = 1, #pairs, 2 do
        redis.call('ZINCRBY', counts, pairs[j + 1], pairs[j])
      end
      redis.call('HDEL', staging, tostring(i))
      break
    end
  end
  local left = redis.call('HLEN', staging)
  if left == 0 then
    redis.call('HDEL', ledger, staging)
    redis.call('HINCRBY', job, 'applying', -1)
    finish_if_complete(job)
  end
  return left
end

--[[ stage: store one part of a batch's counts, before its commit, in the attempt's own
staging hash (field = part number). Idempotent, and refused once the batch's first task
is not this consumer's. KEYS: stream, staging hash.
ARGV: group, consumer, entry id, part number, msgpack {w, c, ...}, ttl ms. ]]
local function stage(keys, args)
  local pairs, err = decode_pairs(args[5])
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

--[[ unstage: delete an attempt's staging hash unless it is an application in flight.
KEYS: ledger, staging hash. Returns 1 if deleted. ]]
local function unstage(keys, args)
  if redis.call('HEXISTS', keys[1], keys[2]) == 1 then
    return 0
  end
  return redis.call('DEL', keys[2])
end

--[[ renew: reset the idle time of the tasks this consumer still owns (XCLAIM ... JUSTID,
which does not count as a delivery), so a slow but live worker is not robbed. One call
renews a whole batch: a round trip per task would cost more than counting small ones.
KEYS: stream. ARGV: group, consumer, entry id... Returns 1 or 0 per entry: still ours? ]]
local function renew(keys, args)
  local result = {}
  for i = 3, #args do
    if owned(keys[1], args[1], args[2], args[i]) then
      redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[i], 'JUSTID')
      result[#result + 1] = 1
    else
      result[#result + 1] = 0
    end
  end
  return result
end

--[[ heartbeat: say that this consumer lives ('working', or 'stalled' when its worker has
made no progress for a while) in its liveness key, with a time to live, and renew the
claims of the given tasks it still owns (as renew does).
KEYS: stream, liveness key. ARGV: group, consumer, ttl ms, state, entry id...
Returns 1 or 0 per entry: still ours? ]]
local function heartbeat(keys, args)
  redis.call('SET', keys[2], args[4], 'PX', tonumber(args[3]))
  local result = {}
  for i = 5, #args do
    if owned(keys[1], args[1], args[2], args[i]) then
      redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[i], 'JUSTID')
      result[#result + 1] = 1
    else
      result[#result + 1] = 0
    end
  end
  return result
end

--[[ dead_letter: give up on a task this consumer owns: acknowledge it, record it with the
error in the dead-letter stream, and count it as failed.
KEYS: stream, dead-letter stream, job. ARGV: group, consumer, entry id, index, path, error. ]]
local function dead_letter(keys, args)
  if not owned(keys[1], args[1], args[2], args[3]) then
    return 0
  end
  redis.call('XACK', keys[1], args[1], args[3])
  redis.call('XADD', keys[2], '*', 'entry', args[3], 'index', args[4], 'path', args[5],
    'error', args[6], 'consumer', args[2])
  redis.call('HINCRBY', keys[3], 'tasks_failed', 1)
  finish_if_complete(keys[3])
  return 1
end

--[[ add_tasks: create the job and its group if missing, then add the tasks not yet in the
stream. Entry IDs are <index + 1>-0, so running it again after any crash adds each task
exactly once. Tasks must come in increasing index order.
KEYS: stream, job. ARGV: group, settings (JSON), msgpack {{index, field, value, ...}, ...}.
Returns the number of tasks added. ]]
local function add_tasks(keys, args)
  local stream, job = keys[1], keys[2]
  local tasks, err = unpack_array(args[3], 'the tasks')
  if not tasks then
    return invalid(err)
  end
  local settings = redis.call('HGET', job, 'settings')
  if settings and settings ~= args[2] then
    return redis.error_reply('ERR wordcount: job exists with other settings: ' .. settings)
  end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  local last_ms = 0
  if #last == 1 then
    last_ms = tonumber(string.match(last[1][1], '^(%d+)'))
  end
  -- Redis may have lost the end of the stream (a restart from an older snapshot, or with
  -- no data at all) while the driver went on to a later batch. Adding it would leave a
  -- hole that no XADD can ever fill (IDs only grow), so refuse; the driver starts over.
  if #tasks > 0 and tasks[1][1] > last_ms then
    return redis.error_reply('ERR wordcount: no such job or tasks lost (stream ends at ' ..
      last_ms .. ', batch starts at ' .. (tasks[1][1] + 1) .. '): add the tasks again')
  end
  -- Validation is over: from here on every step writes.
  if not settings then
    redis.call('HSET', job, 'settings', args[2], 'state', 'bootstrapping',
      'created_ms', now_ms(), 'tasks_done', 0, 'tasks_failed', 0, 'bytes_done', 0)
  end
  local created = redis.pcall('XGROUP', 'CREATE', stream, args[1], '0', 'MKSTREAM')
  if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
    return created
  end
  local added = 0
  for _, task in ipairs(tasks) do
    local ms = task[1] + 1
    if ms > last_ms then
      redis.call('XADD', stream, ms .. '-0', unpack(task, 2))
      last_ms = ms
      added = added + 1
    end
  end
  return added
end

--[[ mark_ready: declare the task list complete, once it is.
KEYS: stream, job. ARGV: number of tasks, total bytes. Returns the job's state. ]]
local function mark_ready(keys, args)
  local state = redis.call('HGET', keys[2], 'state')
  if state ~= 'bootstrapping' then
    return state or redis.error_reply('ERR wordcount: no such job')
  end
  local n = tonumber(args[1])
  local last = redis.call('XREVRANGE', keys[1], '+', '-', 'COUNT', 1)
  local have = 0
  if #last == 1 then
    have = tonumber(string.match(last[1][1], '^(%d+)'))
  end
  if have ~= n then
    return redis.error_reply('ERR wordcount: stream has ' .. have .. ' of ' .. n .. ' tasks')
  end
  redis.call('HSET', keys[2], 'state', 'ready', 'n_tasks', n, 'bytes_total', args[2])
  return finish_if_complete(keys[2])
end

redis.register_function('wc_commit', commit)
redis.register_function('wc_stage', stage)
redis.register_function('wc_apply', apply)
redis.register_function('wc_unstage', unstage)
redis.register_function('wc_renew', renew)
redis.register_function('wc_heartbeat', heartbeat)
redis.register_function('wc_dead_letter', dead_letter)
redis.register_function('wc_add_tasks', add_tasks)
redis.register_function('wc_mark_ready', mark_ready)
