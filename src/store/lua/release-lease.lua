-- ARGV[3]: fence. → 1 when released.
if redis.call('GET', K_LEASE) == ARGV[3] then
  redis.call('DEL', K_LEASE)
  return 1
end
return 0
