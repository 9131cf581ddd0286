-- Index script (KEYS[1]: the sweep index, no thread prelude). ARGV: thread id, after ms.
-- Marks the thread as due for a check at the server's time + after ms. The new score always
-- differs from the one a sweep claimed the thread with, so that the sweep does not forget it.
local now = redis.call('TIME')
local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[2])
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if current and tonumber(current) == at then at = at + 0.5 end
redis.call('ZADD', KEYS[1], at, ARGV[1])
return 1
