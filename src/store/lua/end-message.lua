-- ARGV[3..8]: fence, run id, message JSON, history max length, frame head, frame tail.
-- Stores a finished agent message and publishes its message-end (head .. cursor .. tail).
-- → {'not-found'} | {'lease-lost'} | {'ok', epoch, offset, seq, cancel recorded or ''}.
local status = check_run(ARGV[3], ARGV[4])
if status then return {status} end
local epoch = redis.call('HGET', K_META, 'epoch')
local offset = append(ARGV[5], tonumber(ARGV[6]))
local seq = publish(ARGV[7] .. epoch .. '.' .. int(offset) .. ARGV[8], true)
return {'ok', epoch, offset, seq, run_cancel()}
