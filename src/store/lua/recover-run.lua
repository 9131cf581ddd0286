-- ARGV[3..]: fence, orphan run id, history max length, then either '' (no message in flight) or
-- message frame head, tail for 'interrupted', message JSON for 'interrupted', tail and JSON for
-- 'cancelled' (head .. cursor .. tail); then the three run-end frames (as finish-run).
-- Ends a run whose holder stopped: stores its in-flight message, publishes run-end, deletes the
-- record. → {'not-found'} | {'lease-lost'} | {'conflict'} | {'ok', run-end seq, frame index, epoch, offset or 0}.
local status = check_fence(ARGV[3])
if status then return {status} end
if redis.call('HGET', K_RUN, 'runId') ~= ARGV[4] then return {'conflict'} end
local cancelled = run_cancel() ~= ''
local epoch = redis.call('HGET', K_META, 'epoch')
local offset = 0
local next_arg = 7
if ARGV[6] ~= '' then
  local head = ARGV[6]
  local tail, message_json = ARGV[7], ARGV[8]
  if cancelled then tail, message_json = ARGV[9], ARGV[10] end
  offset = append(message_json, tonumber(ARGV[5]))
  publish(head .. epoch .. '.' .. int(offset) .. tail, true)
  next_arg = 11
end
local seq, index = end_run({ARGV[next_arg], ARGV[next_arg + 1], ARGV[next_arg + 2]})
return {'ok', seq, index, epoch, offset}
