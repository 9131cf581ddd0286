-- → {thread exists 0/1, lease TTL ms (≤ 0: free), run record 0/1, queued}.
return {redis.call('EXISTS', K_META), redis.call('PTTL', K_LEASE), redis.call('EXISTS', K_RUN),
  redis.call('ZCARD', K_QUEUE)}
