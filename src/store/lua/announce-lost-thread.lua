-- ARGV[3]: the thread-deleted frame. Publishes it when the thread no longer exists.
-- → 1 when published, 0 when the thread exists.
if redis.call('EXISTS', K_META) == 1 then return 0 end
publish(ARGV[3], false)
redis.call('DEL', K_LIVE, K_RUN)
return 1
