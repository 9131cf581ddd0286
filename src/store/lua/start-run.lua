-- ARGV[3..8]: fence (`owner:token`), run id, quoted thread id, context limit, context epoch and
-- offset the caller holds (run_context).
-- → {'not-found'} | {'lease-lost'} | {'conflict'} (another run record is there) | {'empty'} | {'ok', claim}.
-- Idempotent: when the run record is already this run under this fence (a retry after the answer
-- was lost), the claim is answered again as it was made.
local fence, run_id, context_limit = ARGV[3], ARGV[4], tonumber(ARGV[6])
local context_epoch, context_after = ARGV[7], tonumber(ARGV[8])
local status = check_fence(fence)
if status then return {status} end
if redis.call('EXISTS', K_RUN) == 1 then
  local run = redis.call('HMGET', K_RUN, 'runId', 'fence', 'token', 'posts', 'position')
  if run[1] ~= run_id or run[2] ~= fence then return {'conflict'} end
  local queued = {}
  for entry in string.gmatch(run[4] or '', '[^,]+') do
    local colon = string.find(entry, ':[^:]*$')
    queued[#queued + 1] = string.sub(entry, 1, colon - 1)
    queued[#queued + 1] = string.sub(entry, colon + 1)
  end
  local first = redis.call('XRANGE', K_LIVE, '-', '+', 'COUNT', 1)[1]
  if not first then return {'conflict'} end
  local frame = first[2][2]
  local seq = tonumber(string.match(first[1], '^(%d+)'))
  local context, after, epoch, first = run_context(run[5], context_limit, context_epoch, context_after)
  return {'ok', {run_id, tonumber(run[3]), queued, run[5], seq, frame, context, after, epoch, first}}
end
if redis.call('ZCARD', K_QUEUE) == 0 then return {'empty'} end
local colon = string.find(fence, ':[^:]*$')
local owner, token = string.sub(fence, 1, colon - 1), string.sub(fence, colon + 1)
return {'ok', start_run(run_id, owner, tonumber(token), ARGV[5], context_limit, context_epoch, context_after)}
