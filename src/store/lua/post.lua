-- Stores a user post, publishes its `message` event and queues it, in one step; with a start owner
-- and no run active, the same step takes the lease and starts the run that answers the queue.
-- ARGV[3..]: message JSON, message id, clientMessageId, team, multitask ('queue' | 'reject' |
-- 'interrupt'), queue max, idempotency TTL ms, history max length (0: all), frame head, frame tail
-- (the message frame is head .. cursor .. tail), start owner ('' = do not start), lease ms, run id,
-- quoted thread id (JSON), context limit, context epoch and offset the caller holds (run_context).
-- → {'not-found'} | {'team-changed', team} | {'busy', 'run-active' | 'queue-full'}
--   | {'duplicate', epoch, offset, entry fields or {}, queued 0/1, needs run 0/1}
--   | {'stored', epoch, offset, seq, queued 0/1, superseded run id or '', claim or {}, needs run 0/1}
local message_json, message_id, client_message_id, team, multitask = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local queue_max, ttl_ms, max_length = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local head, tail, start_owner, lease_ms, run_id = ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local quoted_thread_id, context_limit = ARGV[16], tonumber(ARGV[17])
local context_epoch, context_after = ARGV[18], tonumber(ARGV[19])

local meta = redis.call('HMGET', K_META, 'epoch', 'team', 'position')
local epoch = meta[1]
if not epoch then return {'not-found'} end
local position = tonumber(meta[3] or '0')
local lease_held = redis.call('EXISTS', K_LEASE) == 1

local now = 0
if client_message_id ~= '' then
  now = now_ms()
  -- forget idempotency records older than the TTL, a bounded number per call
  local expired = redis.call('ZRANGEBYSCORE', K_IDEMPOTENCY_TIMES, '-inf', now - ttl_ms, 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('HDEL', K_IDEMPOTENCY, unpack(expired))
    redis.call('ZREM', K_IDEMPOTENCY_TIMES, unpack(expired))
  end
  local previous = redis.call('HGET', K_IDEMPOTENCY, client_message_id)
  if previous then
    local entry = redis.call('XRANGE', K_HISTORY, previous .. '-1', previous .. '-1')[1]
    -- Stored after the last run started: it waits for a run. Queue it again if it is not queued.
    local waiting = entry ~= nil and tonumber(previous) > position
    if waiting then
      local fields = entry[2]
      local stored_id = nil
      for i = 1, #fields, 2 do
        if fields[i] == 'message' then stored_id = cjson.decode(fields[i + 1]).id end
      end
      if stored_id and not redis.call('ZSCORE', K_QUEUE, stored_id) then
        redis.call('ZADD', K_QUEUE, previous, stored_id)
      end
    end
    local fields = {}
    if entry then fields = entry[2] end
    return {'duplicate', epoch, previous, fields, waiting and 1 or 0, (waiting and not lease_held) and 1 or 0}
  end
end

if meta[2] ~= team then return {'team-changed', meta[2] or ''} end
local run_active = lease_held or redis.call('EXISTS', K_RUN) == 1
if run_active and multitask == 'reject' then return {'busy', 'run-active'} end
local limit = queue_max
if not run_active and limit < 1 then limit = 1 end
if redis.call('ZCARD', K_QUEUE) >= limit then return {'busy', 'queue-full'} end

local offset = append(message_json, max_length)
if client_message_id ~= '' then
  redis.call('HSET', K_IDEMPOTENCY, client_message_id, offset)
  redis.call('ZADD', K_IDEMPOTENCY_TIMES, now, client_message_id)
  -- an idle thread's records go with their TTL
  redis.call('PEXPIRE', K_IDEMPOTENCY, ttl_ms)
  redis.call('PEXPIRE', K_IDEMPOTENCY_TIMES, ttl_ms)
end
local seq = publish(head .. epoch .. '.' .. int(offset) .. tail, false)
redis.call('ZADD', K_QUEUE, offset, message_id)

local superseded = ''
if run_active and multitask == 'interrupt' then
  local run = redis.call('HMGET', K_RUN, 'runId', 'cancel')
  if run[1] then
    if run[2] == '' then redis.call('HSET', K_RUN, 'cancel', 'superseded') end
    superseded = run[1]
  end
end

local claim = {}
if not run_active and start_owner ~= '' then
  local token = grant_lease(start_owner, lease_ms)
  claim = start_run(run_id, start_owner, token, quoted_thread_id, context_limit, context_epoch, context_after)
end
local needs_run = (#claim == 0 and not lease_held) and 1 or 0
return {'stored', epoch, offset, seq, run_active and 1 or 0, superseded, claim, needs_run}
