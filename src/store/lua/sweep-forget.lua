-- Index script. ARGV: thread id, the score it was claimed with. Forgets the thread unless it was
-- marked again since. → 1 when forgotten.
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
