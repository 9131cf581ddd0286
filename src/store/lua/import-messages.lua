-- ARGV[3..]: history max length, then pairs of (message JSON, message frame head .. cursor .. tail
-- split as head, tail) for each message: head, tail, JSON, head, tail, JSON, …
-- Appends finished messages outside any run (an import of existing history) and publishes each as a
-- `message` event. They count as answered: the run position moves past them.
-- → {'not-found'} | {'ok', epoch, first offset, first seq}.
local epoch = redis.call('HGET', K_META, 'epoch')
if not epoch then return {'not-found'} end
local max_length = tonumber(ARGV[3])
local first_offset, first_seq = 0, 0
for i = 4, #ARGV, 3 do
  local offset = append(ARGV[i + 2], max_length)
  local seq = publish(ARGV[i] .. epoch .. '.' .. int(offset) .. ARGV[i + 1], false)
  if i == 4 then first_offset, first_seq = offset, seq end
  redis.call('HSET', K_META, 'position', offset)
end
return {'ok', epoch, first_offset, first_seq}
