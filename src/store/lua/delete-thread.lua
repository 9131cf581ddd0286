-- ARGV[3]: the thread-deleted frame. Publishes it and deletes every key of the thread, in one step.
-- → 1 when the thread existed, else 0 (nothing is published).
if redis.call('EXISTS', K_META) == 0 then return 0 end
publish(ARGV[3], false)
redis.call('DEL', K_META, K_HISTORY, K_IDEMPOTENCY, K_IDEMPOTENCY_TIMES, K_LEASE, K_LEASE_TOKEN, K_QUEUE,
  K_RUN, K_LIVE, K_LIVE_SEQ, K_VALUES)
return 1
