-- ARGV[3..4]: fence (`owner:token`), lease ms. → {1, cancel recorded for its run or ''} | {0}.
if check_fence(ARGV[3]) then return {0} end
redis.call('PEXPIRE', K_LEASE, ARGV[4])
local cancel = ''
if redis.call('HGET', K_RUN, 'fence') == ARGV[3] then cancel = run_cancel() end
return {1, cancel}
