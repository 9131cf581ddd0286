-- ARGV[3..6]: fence (`owner:token`), run id, quoted thread id, context limit.
-- → {'not-found'} | {'lease-lost'} | {'conflict'} (a run record is there) | {'empty'} | {'ok', claim}.
local fence = ARGV[3]
local status = check_fence(fence)
if status then return {status} end
if redis.call('EXISTS', K_RUN) == 1 then return {'conflict'} end
if redis.call('ZCARD', K_QUEUE) == 0 then return {'empty'} end
local colon = string.find(fence, ':[^:]*$')
local owner, token = string.sub(fence, 1, colon - 1), string.sub(fence, colon + 1)
return {'ok', start_run(ARGV[4], owner, tonumber(token), ARGV[5], tonumber(ARGV[6]))}
