-- ARGV[3..13]: fence, run id, run-end frames (without cancel, 'cancelled', 'superseded'), next run
-- id ('' = release the lease), quoted thread id, context limit, lease ms, context epoch and offset
-- the caller holds (run_context).
-- Publishes run-end and deletes the run record; then starts the next run when one is asked for and
-- posts wait, else releases the lease.
-- → {'not-found'} | {'lease-lost'} | {'next', seq, frame index, claim} | {'released', seq, frame index, queued}.
local fence, run_id = ARGV[3], ARGV[4]
local status = check_run(fence, run_id)
if status then return {status} end
local owner, token = redis.call('HGET', K_RUN, 'owner'), tonumber(redis.call('HGET', K_RUN, 'token'))
local seq, index = end_run({ARGV[5], ARGV[6], ARGV[7]})
local queued = redis.call('ZCARD', K_QUEUE)
if ARGV[8] ~= '' and queued > 0 then
  redis.call('PEXPIRE', K_LEASE, ARGV[11])
  return {'next', seq, index, start_run(ARGV[8], owner, token, ARGV[9], tonumber(ARGV[10]), ARGV[12], tonumber(ARGV[13]))}
end
redis.call('DEL', K_LEASE)
return {'released', seq, index, queued}
