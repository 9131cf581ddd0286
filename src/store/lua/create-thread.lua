-- ARGV[3..6]: team, metadata JSON, epoch, createdAt.
-- → {0} when created, {1, HGETALL of the existing meta} when the thread already existed.
if redis.call('EXISTS', K_META) == 1 then
  return {1, redis.call('HGETALL', K_META)}
end
redis.call('HSET', K_META, 'v', '1', 'team', ARGV[3], 'metadata', ARGV[4], 'epoch', ARGV[5],
  'createdAt', ARGV[6], 'offset', '0', 'position', '0')
-- The live sequence starts at the clock (never below a deleted predecessor's), before any
-- subscriber reads its baseline.
if redis.call('EXISTS', K_LIVE_SEQ) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', K_LIVE_SEQ, now[1] .. string.format('%06d', tonumber(now[2])))
end
return {0}
