-- → the run record's fields, or {}.
return redis.call('HGETALL', K_RUN)
