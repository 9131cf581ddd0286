-- ARGV[3..5]: cursor epoch, cursor offset, limit.
-- → {'not-found'} | {'lost'} | {'ok', missed, entries (at most limit, oldest first)}.
-- 'lost' when continuity cannot be guaranteed.
local meta = redis.call('HMGET', K_META, 'epoch', 'offset')
if not meta[1] then return {'not-found'} end
if meta[1] ~= ARGV[3] then return {'lost'} end
local top = tonumber(meta[2])
local offset = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
if offset == nil or offset < 1 or offset > top then return {'lost'} end
if offset == top then return {'ok', 0, {}} end
local entries = redis.call('XRANGE', K_HISTORY, '(' .. int(offset) .. '-1', '+', 'COUNT', math.max(limit, 1))
local first = entries[1]
-- the entry right after the cursor must still be there: otherwise history was trimmed past it
if not first or first[1] ~= int(offset + 1) .. '-1' then return {'lost'} end
if limit < 1 then entries = {} end
return {'ok', top - offset, entries}
