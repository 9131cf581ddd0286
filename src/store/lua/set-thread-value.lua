-- ARGV[3..4]: name, value. Sets the value only while the thread exists. → 1 when set.
if redis.call('EXISTS', K_META) == 0 then return 0 end
redis.call('HSET', K_VALUES, ARGV[3], ARGV[4])
return 1
