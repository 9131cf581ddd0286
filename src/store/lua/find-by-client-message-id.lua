-- ARGV[3..4]: clientMessageId, idempotency TTL ms.
-- → {epoch, offset, entry fields} of the stored item, or {} when there is none (or it expired).
local epoch = redis.call('HGET', K_META, 'epoch')
if not epoch then return {} end
local offset = redis.call('HGET', K_IDEMPOTENCY, ARGV[3])
if not offset then return {} end
local at = redis.call('ZSCORE', K_IDEMPOTENCY_TIMES, ARGV[3])
if at and tonumber(at) < now_ms() - tonumber(ARGV[4]) then return {} end
local entry = redis.call('XRANGE', K_HISTORY, offset .. '-1', offset .. '-1')[1]
if not entry then return {} end
return {epoch, offset, entry[2]}
