-- ARGV[3..6]: 'latest' or 'before', cursor epoch, cursor offset, limit.
-- → {'not-found'} | {'foreign'} | {'ok', epoch, up to limit + 1 entries older than the cursor, newest first}.
-- A cursor of another epoch, or past the newest message (never given out), is 'foreign'.
local meta = redis.call('HMGET', K_META, 'epoch', 'offset')
local epoch = meta[1]
if not epoch then return {'not-found'} end
local start = '+'
if ARGV[3] == 'before' then
  local offset = tonumber(ARGV[5])
  if ARGV[4] ~= epoch or offset < 1 or offset > tonumber(meta[2]) then return {'foreign'} end
  start = '(' .. ARGV[5] .. '-1'
end
local limit = tonumber(ARGV[6])
if limit <= 0 then return {'ok', epoch, {}} end
return {'ok', epoch, redis.call('XREVRANGE', K_HISTORY, start, '-', 'COUNT', limit + 1)}
