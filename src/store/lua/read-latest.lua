-- ARGV[3]: limit. → {'not-found'} | {'ok', epoch, newest entries (newest first), length}.
local epoch = redis.call('HGET', K_META, 'epoch')
if not epoch then return {'not-found'} end
local limit = tonumber(ARGV[3])
local entries = {}
if limit > 0 then entries = redis.call('XREVRANGE', K_HISTORY, '+', '-', 'COUNT', limit) end
return {'ok', epoch, entries, redis.call('XLEN', K_HISTORY)}
