-- ARGV[3..]: fence, run id, frames… Publishes each frame as an event of the running run, in order.
-- → {'not-found'} | {'lease-lost'} | {'ok', first seq, cancel recorded or ''}.
local status = check_run(ARGV[3], ARGV[4])
if status then return {status} end
local first = 0
for i = 5, #ARGV do
  local seq = publish(ARGV[i], true)
  if i == 5 then first = seq end
end
return {'ok', first, run_cancel()}
