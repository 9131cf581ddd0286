-- Shared by every thread script (prepended to each one when it is registered).
-- Every thread script gets the thread's KEYS in one order (redis-keys.ts `threadScriptKeys`), all in
-- the thread's Cluster slot, and ARGV[1], ARGV[2] = the thread's event channel and PUBLISH or
-- SPUBLISH. The scripts of a running run (its events, message ends, renewals) get only the first six
-- (redis-scripts.ts `HOT_SCRIPT_KEY_COUNT`): fewer bytes for every delta; the others are nil there.
-- Scripts answer with a status word first ('ok', 'not-found', 'lease-lost', …) rather than with
-- Redis errors, so that only transport and server failures surface as errors.
local K_META, K_LEASE, K_RUN, K_LIVE, K_LIVE_SEQ, K_HISTORY, K_IDEMPOTENCY, K_IDEMPOTENCY_TIMES, K_LEASE_TOKEN, K_QUEUE, K_VALUES =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local CHANNEL, PUBLISH_COMMAND = ARGV[1], ARGV[2]

local function int(number)
  return string.format('%d', number)
end

local function now_ms()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

-- INCR of a counter that starts from the server clock in microseconds when it does not exist (a new
-- or re-created thread, a Redis that lost its data), so its values never repeat.
local function clock_counter(key)
  if redis.call('EXISTS', key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', key, now[1] .. string.format('%06d', tonumber(now[2])))
  end
  return redis.call('INCR', key)
end

-- Publishes `frame` as the thread's next live event, with the next live sequence number; `keep`
-- also adds it to the current run (the live stream a joiner or a failover reads back).
local function publish(frame, keep)
  local seq = clock_counter(K_LIVE_SEQ)
  if keep then
    redis.call('XADD', K_LIVE, int(seq) .. '-1', 'frame', frame)
  end
  redis.call(PUBLISH_COMMAND, CHANNEL, '{"liveSeq":' .. int(seq) .. ',"event":' .. frame .. '}')
  return seq
end

-- Appends a finished message to history; returns its offset.
local function append(message_json, max_length)
  local offset = redis.call('HINCRBY', K_META, 'offset', 1)
  local id = int(offset) .. '-1'
  if max_length > 0 then
    redis.call('XADD', K_HISTORY, 'MAXLEN', '~', max_length, id, 'v', '1', 'message', message_json)
  else
    redis.call('XADD', K_HISTORY, id, 'v', '1', 'message', message_json)
  end
  return offset
end

-- nil when `fence` (`owner:token`) is the thread's live lease, else the status to answer.
local function check_fence(fence)
  if redis.call('EXISTS', K_META) == 0 then return 'not-found' end
  if redis.call('GET', K_LEASE) ~= fence then return 'lease-lost' end
  return nil
end

-- As check_fence, and the thread's run record must be `run_id`, started under this fence.
local function check_run(fence, run_id)
  local status = check_fence(fence)
  if status then return status end
  local run = redis.call('HMGET', K_RUN, 'runId', 'fence')
  if run[1] ~= run_id or run[2] ~= fence then return 'lease-lost' end
  return nil
end

local function run_cancel()
  return redis.call('HGET', K_RUN, 'cancel') or ''
end

-- Grants the lease to `owner`; returns the fencing token.
local function grant_lease(owner, lease_ms)
  local token = clock_counter(K_LEASE_TOKEN)
  redis.call('SET', K_LEASE, owner .. ':' .. int(token), 'PX', lease_ms)
  return token
end

-- The agents' context for a run at `position`: the newest `limit` history entries up to it (newest
-- first), or, when the caller holds the thread's messages up to offset `after` of epoch
-- `after_epoch` already (and that is still the thread's epoch), only the entries after it.
-- → entries, the offset they follow (0: the whole window), the thread's epoch, the oldest offset
-- history still holds (trimming removes a prefix: what the caller holds below it is gone too).
local function run_context(position, limit, after_epoch, after)
  local epoch = redis.call('HGET', K_META, 'epoch') or ''
  local oldest = redis.call('XRANGE', K_HISTORY, '-', '+', 'COUNT', 1)[1]
  local first = oldest and tonumber(string.match(oldest[1], '^(%d+)')) or (tonumber(position) + 1)
  if limit <= 0 or tonumber(position) <= 0 then return {}, 0, epoch, first end
  if after > 0 and after <= tonumber(position) and after_epoch == epoch then
    return redis.call('XREVRANGE', K_HISTORY, position .. '-1', '(' .. int(after) .. '-1', 'COUNT', limit), after, epoch, first
  end
  return redis.call('XREVRANGE', K_HISTORY, position .. '-1', '-', 'COUNT', limit), 0, epoch, first
end

-- Starts a run under the lease (owner, token): the queued posts move into the run record, the
-- history position is recorded, run-start is published. Answers the claim:
-- {runId, token, {id, offset, …}, position, seq, frame, context entries (newest first), context
-- after, epoch, oldest offset} (run_context).
local function start_run(run_id, owner, token, quoted_thread_id, context_limit, after_epoch, after)
  local queued = redis.call('ZRANGE', K_QUEUE, 0, -1, 'WITHSCORES')
  redis.call('DEL', K_QUEUE)
  local ids, posts = {}, {}
  for i = 1, #queued, 2 do
    ids[#ids + 1] = queued[i]
    posts[#posts + 1] = queued[i] .. ':' .. queued[i + 1]
  end
  local position = redis.call('HGET', K_META, 'offset') or '0'
  local team = redis.call('HGET', K_META, 'team') or ''
  redis.call('HSET', K_META, 'position', position)
  redis.call('DEL', K_RUN)
  redis.call('HSET', K_RUN, 'v', '1', 'runId', run_id, 'team', team, 'owner', owner, 'token', int(token),
    'fence', owner .. ':' .. int(token), 'posts', table.concat(posts, ','), 'position', position, 'cancel', '')
  local frame = '{"type":"run-start","threadId":' .. quoted_thread_id .. ',"runId":"' .. run_id ..
    '","team":' .. cjson.encode(team) .. ',"posts":' .. (#ids > 0 and cjson.encode(ids) or '[]') .. '}'
  redis.call('DEL', K_LIVE)
  local seq = publish(frame, true)
  local context, context_after, epoch, first = run_context(position, context_limit, after_epoch, after)
  return {run_id, token, queued, position, seq, frame, context, context_after, epoch, first}
end

-- Ends the current run record: publishes the run-end frame that fits its recorded cancel
-- (frames[1] without one, frames[2] 'cancelled', frames[3] 'superseded'), clears the live run and
-- the record. Returns the seq and the index of the frame published.
local function end_run(frames)
  local cancel = run_cancel()
  local index = 1
  if cancel == 'cancelled' then index = 2 elseif cancel == 'superseded' then index = 3 end
  local seq = publish(frames[index], false)
  redis.call('DEL', K_LIVE, K_RUN)
  -- A subscriber that saw the run start before a drop learns from the thread how it ended: the
  -- last run-end, and the ones before it (oldest first, one per line; with it, the last 8 =
  -- frames.ts RECENT_RUN_ENDS). A frame is JSON, so it holds no raw newline.
  local previous = redis.call('HGET', K_META, 'lastRunEnd')
  if previous then
    local earlier = {}
    local kept = redis.call('HGET', K_META, 'earlierRunEnds')
    if kept then
      for line in string.gmatch(kept, '[^\n]+') do earlier[#earlier + 1] = line end
    end
    earlier[#earlier + 1] = previous
    redis.call('HSET', K_META, 'earlierRunEnds', table.concat(earlier, '\n', math.max(1, #earlier - 6)))
  end
  redis.call('HSET', K_META, 'lastRunEnd', frames[index])
  return seq, index
end
