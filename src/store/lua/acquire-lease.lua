-- ARGV[3..4]: owner, lease ms.
-- → {'not-found'} | {'held'} | {'ok', token, run record fields or {}, queued}.
if redis.call('EXISTS', K_META) == 0 then return {'not-found'} end
if redis.call('EXISTS', K_LEASE) == 1 then return {'held'} end
local token = grant_lease(ARGV[3], ARGV[4])
return {'ok', token, redis.call('HGETALL', K_RUN), redis.call('ZCARD', K_QUEUE)}
