-- Index script. ARGV: limit, postpone ms. Takes the threads due now and postpones each (so that one
-- instance checks it). → {thread id, its new score, …}.
local now = redis.call('TIME')
local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', at, 'LIMIT', 0, tonumber(ARGV[1]))
local claimed = {}
for _, thread_id in ipairs(due) do
  redis.call('ZADD', KEYS[1], at + tonumber(ARGV[2]), thread_id)
  claimed[#claimed + 1] = thread_id
  claimed[#claimed + 1] = redis.call('ZSCORE', KEYS[1], thread_id)
end
return claimed
