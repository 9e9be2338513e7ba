#!lua name=flow
--[[
The atomic steps of a dataflow job (engine/flow). Pairs are msgpack blobs of decimal
strings that these functions store and move but never read, so integers of any size stay
exact. As in wordcount.lua, every function validates before its first write.

A task is one partition of one stage; its stream entry ID is <stage * P + partition + 1>-0,
so adding a stage's tasks again after any crash adds each exactly once.
]]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function owned(stream, group, consumer, id)
  local ok, rows = pcall(redis.call, 'XPENDING', stream, group, id, id, 1, consumer)
  return ok and #rows == 1
end

local function add_stage(stream, stage, partitions)
  for p = 0, partitions - 1 do
    redis.call('XADD', stream, (stage * partitions + p + 1) .. '-0',
      'stage', stage, 'partition', p)
  end
end

--[[ bootstrap: create the job with its stage-0 inputs and tasks, or leave an existing one
as it is (a restarted driver resumes it). One call, so a crash leaves all or nothing.
KEYS: job, stream, input hash of each partition (P of them).
ARGV: group, program JSON, number of stages, P, claim timeout ms, then P blobs. Returns the job's state. ]]
local function bootstrap(keys, args)
  local job, stream = keys[1], keys[2]
  local program, n_stages, partitions = args[2], tonumber(args[3]), tonumber(args[4])
  if #keys ~= 2 + partitions or #args ~= 5 + partitions then
    return redis.error_reply('ERR flow: expected ' .. partitions .. ' input partitions')
  end
  local existing = redis.call('HMGET', job, 'kind', 'program', 'state')
  if existing[3] then
    if existing[1] ~= 'flow' or existing[2] ~= program then
      return redis.error_reply('ERR flow: job exists with another program or kind')
    end
    return existing[3]
  end
  -- Validation is over: from here on every step writes.
  redis.call('DEL', stream)
  for p = 0, partitions - 1 do
    redis.call('DEL', keys[3 + p])
    redis.call('HSET', keys[3 + p], '0', args[6 + p])
  end
  redis.call('XGROUP', 'CREATE', stream, args[1], '0', 'MKSTREAM')
  add_stage(stream, 0, partitions)
  redis.call('HSET', job, 'kind', 'flow', 'program', program, 'state', 'running',
    'n_stages', n_stages, 'partitions', partitions, 'stage', 0, 'stage_done', 0,
    'tasks_done', 0, 'claim_timeout_ms', args[5], 'created_ms', now_ms())
  return 'running'
end

--[[ commit: acknowledge one task and store its output, then, if it was the stage's last,
open the next stage (or finish the job), all or nothing.
KEYS: stream, job, runs, then one output hash per blob.
ARGV: group, consumer, entry id, stage, partition, field, then one blob per output hash.
Returns {1, state} when committed, {0, reason} when refused (nothing written). ]]
local function commit(keys, args)
  local stream, job, runs = keys[1], keys[2], keys[3]
  local group, consumer, id = args[1], args[2], args[3]
  local stage, partition, field = tonumber(args[4]), args[5], args[6]
  if #keys - 3 ~= #args - 6 or #keys == 3 then
    return redis.error_reply('ERR flow: one blob per output hash, at least one')
  end
  if not owned(stream, group, consumer, id) then
    return {0, 'not-owner'}
  end
  local f = redis.call('HMGET', job, 'stage', 'partitions', 'n_stages', 'state')
  if tonumber(f[1]) ~= stage or f[4] ~= 'running' then
    return {0, 'stale-stage'}
  end
  -- Validation is over: from here on every step writes.
  if redis.call('XACK', stream, group, id) ~= 1 then
    return redis.error_reply('ERR flow: XACK of ' .. id .. ' did not return 1')
  end
  for i = 4, #keys do
    redis.call('HSET', keys[i], field, args[i + 3])
  end
  redis.call('HINCRBY', runs, stage .. ':' .. partition, 1)
  redis.call('HINCRBY', job, 'tasks_done', 1)
  local done = redis.call('HINCRBY', job, 'stage_done', 1)
  local partitions, n_stages = tonumber(f[2]), tonumber(f[3])
  if done < partitions then
    return {1, 'running'}
  end
  if stage + 1 < n_stages then
    add_stage(stream, stage + 1, partitions)
    redis.call('HSET', job, 'stage', stage + 1, 'stage_done', 0)
    return {1, 'running'}
  end
  redis.call('HSET', job, 'state', 'done', 'finished_ms', now_ms())
  return {1, 'done'}
end

--[[ renew: reset the idle time of a task this consumer still owns.
KEYS: stream. ARGV: group, consumer, entry id. Returns 1 (still ours) or 0. ]]
local function renew(keys, args)
  if not owned(keys[1], args[1], args[2], args[3]) then
    return 0
  end
  redis.call('XCLAIM', keys[1], args[1], args[2], 0, args[3], 'JUSTID')
  return 1
end

redis.register_function('flow_bootstrap', bootstrap)
redis.register_function('flow_commit', commit)
redis.register_function('flow_renew', renew)
