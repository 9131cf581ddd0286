-- ARGV[3..6]: 'latest' or 'before', cursor epoch, cursor offset, limit.
-- → {'not-found'} | {'foreign'} | {'ok', epoch, up to limit + 1 entries older than the cursor, newest first}.
local epoch = redis.call('HGET', K_META, 'epoch')
if not epoch then return {'not-found'} end
local start = '+'
if ARGV[3] == 'before' then
  if ARGV[4] ~= epoch or tonumber(ARGV[5]) < 1 then return {'foreign'} end
  start = '(' .. ARGV[5] .. '-1'
end
local limit = tonumber(ARGV[6])
if limit <= 0 then return {'ok', epoch, {}} end
return {'ok', epoch, redis.call('XREVRANGE', K_HISTORY, start, '-', 'COUNT', limit + 1)}
