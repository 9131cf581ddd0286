-- ARGV[3]: reason ('cancelled' | 'superseded'). Records a cancel for the active run (the first
-- reason stays). → the run id, or '' when no run is active.
local run = redis.call('HMGET', K_RUN, 'runId', 'cancel')
if not run[1] then return '' end
if run[2] == '' then redis.call('HSET', K_RUN, 'cancel', ARGV[3]) end
return run[1]
