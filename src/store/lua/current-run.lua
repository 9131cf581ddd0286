-- → {last live seq (0 when none), entries of the current run}.
return {tonumber(redis.call('GET', K_LIVE_SEQ) or '0'), redis.call('XRANGE', K_LIVE, '-', '+')}
