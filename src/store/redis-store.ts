// The Store port on Redis (standalone or Cluster). Design, keys and TTLs: docs/storage.md.
//
// - history: one stream per thread, entry ids `<offset>-1` from a per-thread counter, cursors
//   `<epoch>.<offset>`; appends are one Lua script (existence, idempotency, fence, XADD);
// - live bus: every event goes through one Lua script that allocates its liveId from the thread's
//   live stream (which also holds the current run) and publishes it on the thread's channel
//   (sharded pub/sub on Cluster); one dedicated subscriber connection per store;
// - lease: SET NX PX `owner:token` with a per-thread fencing counter; queue: a bounded list.
import { createHash } from 'node:crypto';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { nanoid } from 'nanoid';
import type { Message, ThreadEvent } from '../protocol/frames.ts';
import { silentLogger, type Logger } from '../log.ts';
import { allThreadKeys, DEFAULT_REDIS_PREFIX, redisKeys, type RedisKeys } from './redis-keys.ts';
import {
  StoreError,
  type AppendOptions,
  type ControlSignal,
  type LeaseHandle,
  type LiveEnvelope,
  type LiveListener,
  type Store,
  type StoredItem,
  type ThreadRecord,
} from './store.ts';

export interface RedisStoreOptions {
  /** `redis://` URL of a standalone server (or of one Cluster node: `connect` detects a Cluster). */
  url?: string;
  /** ioredis options for a standalone server, applied over `url`. */
  redis?: RedisOptions;
  /** A Redis Cluster: startup nodes and ioredis Cluster options. Takes precedence over `url`. */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /** Prefix of every key and channel. @default 'chorus' */
  prefix?: string;
  /**
   * Keep about this many messages per thread (`XADD MAXLEN ~`: at least this many, trimmed by
   * whole stream nodes); 0 keeps all. @default 0
   */
  historyMaxLength?: number;
  /** @default a silent logger */
  logger?: Logger;
  /** How long a clientMessageId is remembered for idempotent appends. @default 86400 */
  idempotencyTtlSeconds?: number;
  /** A command without a reply after this long fails with `unavailable`. @default 5000 */
  commandTimeoutMs?: number;
  /** Timeout of `ping()`. @default 1000 */
  pingTimeoutMs?: number;
  /** Upper bound of the jittered exponential reconnect backoff. @default 2000 */
  reconnectMaxDelayMs?: number;
  /** How long `connect` waits for Redis. @default 10000 */
  connectTimeoutMs?: number;
}

/** Stored history entries carry this schema version in their `v` field. */
export const HISTORY_ENTRY_VERSION = '1';
/** The live stream (current run, last liveId) expires this long after the thread's last event. */
const LIVE_STREAM_TTL_MS = 24 * 3600 * 1000;
/** … and this long after a `thread-deleted` event (deleteThread removes it at once). */
const DELETED_LIVE_STREAM_TTL_MS = 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Lua scripts. Each one touches the keys of ONE thread, all declared in KEYS and
// all in the same Cluster slot (see redis-keys.ts), so it runs atomically on any topology.
// Scripts answer with a status word first ('ok', 'not-found', 'lease-lost', …) rather than with
// Redis errors, so that only transport and server failures surface as errors.
type RedisClient = Redis | Cluster;

/** A Lua script run with EVALSHA, falling back to EVAL when the server does not know it yet. */
class LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;

  constructor(name: string, source: string) {
    this.name = name;
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    client: RedisClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // After a restart or a FLUSHALL / SCRIPT FLUSH the script cache is empty.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/**
 * KEYS: meta. ARGV: team, metadata JSON, epoch, createdAt.
 * → {0} when created, {1, HGETALL of the existing meta} when the thread already existed.
 */
const createThreadScript = new LuaScript(
  'create-thread',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {1, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'v', '1', 'team', ARGV[1], 'metadata', ARGV[2], 'epoch', ARGV[3],
  'createdAt', ARGV[4], 'offset', '0')
return {0}
`,
);

/**
 * KEYS: meta, history, idempotency, idempotency-times. ARGV: clientMessageId, now ms, TTL ms.
 * → {epoch, offset, fields} of the stored item, or {} when there is none (or it expired).
 */
const findByClientMessageIdScript = new LuaScript(
  'find-by-client-message-id',
  `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {} end
local offset = redis.call('HGET', KEYS[3], ARGV[1])
if not offset then return {} end
local at = redis.call('ZSCORE', KEYS[4], ARGV[1])
if at and tonumber(at) < tonumber(ARGV[2]) - tonumber(ARGV[3]) then return {} end
local entry = redis.call('XRANGE', KEYS[2], offset .. '-1', offset .. '-1')[1]
if not entry then return {} end
return {epoch, offset, entry[2]}
`,
);

/** KEYS: meta, values. ARGV: name, value. Sets the value only while the thread exists. */
const setThreadValueScript = new LuaScript(
  'set-thread-value',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`,
);

/** KEYS: every key of the thread, meta first. → 1 when the thread existed. */
const deleteThreadScript = new LuaScript(
  'delete-thread',
  `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', unpack(KEYS))
return existed
`,
);

// Shared by the append script and the publish script: adds one event to the live stream and
// publishes it. `kind` is the event type. The live stream holds the current run (from its
// run-start); every event, in or out of a run, takes its liveId from that stream, so liveIds are
// strictly increasing per thread. The published payload is {"liveId":"…","event":<frame>}.
const publishEventLua = `
local function publish_event(live, kind, frame, channel, command)
  local boundary = kind == 'run-start' or kind == 'run-end' or kind == 'thread-deleted'
  -- a run is active when the stream holds events (the first one is its run-start)
  local keep = kind == 'run-start' or (not boundary and kind ~= 'message' and redis.call('XLEN', live) > 0)
  if boundary then redis.call('XTRIM', live, 'MAXLEN', 0) end
  local id
  if keep then
    id = redis.call('XADD', live, '*', 'v', '1', 'frame', frame)
  else
    -- not part of the current run: the id is allocated all the same, and XDEL keeps the
    -- stream's last id, so liveIds keep increasing
    id = redis.call('XADD', live, '*', 'v', '1')
    redis.call('XDEL', live, id)
  end
  -- an idle live stream only keeps the last id; after a thread-deleted it goes soon
  redis.call('PEXPIRE', live, kind == 'thread-deleted' and ${DELETED_LIVE_STREAM_TTL_MS} or ${LIVE_STREAM_TTL_MS})
  redis.call(command, channel, '{"liveId":"' .. id .. '","event":' .. frame .. '}')
  return id
end
`;

/**
 * KEYS: meta, history, idempotency, idempotency-times, lease, live.
 * ARGV: message JSON, clientMessageId or '', fence (`owner:token`) or '', history max length
 * (0: all), idempotency TTL ms, event kind ('' = do not publish, 'message' or 'message-end'),
 * frame head, frame tail (the frame is head .. cursor .. tail), channel, PUBLISH or SPUBLISH.
 * → {'not-found'} | {'lease-lost'} | {'duplicate', epoch, offset, entry fields or nil}
 *   | {'ok', epoch, offset, liveId or nil}
 */
const appendScript = new LuaScript(
  'append',
  `${publishEventLua}
local meta, history, idempotency, idempotencyTimes, lease, live =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then return {'not-found'} end
local clientMessageId = ARGV[2]
local nowMs = 0
if clientMessageId ~= '' then
  local now = redis.call('TIME')
  nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  -- forget idempotency records older than the TTL, a bounded number per call
  local expired = redis.call('ZRANGEBYSCORE', idempotencyTimes, '-inf', nowMs - tonumber(ARGV[5]), 'LIMIT', 0, 100)
  if #expired > 0 then
    redis.call('HDEL', idempotency, unpack(expired))
    redis.call('ZREM', idempotencyTimes, unpack(expired))
  end
  local previous = redis.call('HGET', idempotency, clientMessageId)
  if previous then
    local entries = redis.call('XRANGE', history, previous .. '-1', previous .. '-1')
    local entry = entries[1]
    if entry then return {'duplicate', epoch, previous, entry[2]} end
    return {'duplicate', epoch, previous}
  end
end
if ARGV[3] ~= '' and redis.call('GET', lease) ~= ARGV[3] then return {'lease-lost'} end
local offset = redis.call('HINCRBY', meta, 'offset', 1)
local id = string.format('%d-1', offset)
local maxLength = tonumber(ARGV[4])
if maxLength > 0 then
  redis.call('XADD', history, 'MAXLEN', '~', maxLength, id, 'v', '1', 'message', ARGV[1])
else
  redis.call('XADD', history, id, 'v', '1', 'message', ARGV[1])
end
if clientMessageId ~= '' then
  redis.call('HSET', idempotency, clientMessageId, offset)
  redis.call('ZADD', idempotencyTimes, nowMs, clientMessageId)
  -- an idle thread's records go with their TTL
  redis.call('PEXPIRE', idempotency, ARGV[5])
  redis.call('PEXPIRE', idempotencyTimes, ARGV[5])
end
if ARGV[6] == '' then return {'ok', epoch, offset} end
local cursor = epoch .. '.' .. string.format('%d', offset)
local liveId = publish_event(live, ARGV[6], ARGV[7] .. cursor .. ARGV[8], ARGV[9], ARGV[10])
return {'ok', epoch, offset, liveId}
`,
);

/** KEYS: live. ARGV: event type, frame, channel, PUBLISH or SPUBLISH. → liveId. */
const publishScript = new LuaScript(
  'publish',
  `${publishEventLua}
return publish_event(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`,
);

/** KEYS: live. → {last liveId or '', entries of the current run}. */
const currentRunScript = new LuaScript(
  'current-run',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'', {}} end
local last = ''
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
return {last, redis.call('XRANGE', KEYS[1], '-', '+')}
`,
);

/**
 * KEYS: meta, history. ARGV: cursor epoch, cursor offset, limit.
 * → {'not-found'} | {'lost'} | {'ok', entries}. 'lost' when continuity cannot be guaranteed.
 */
const readAfterScript = new LuaScript(
  'read-after',
  `
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'offset')
if not meta[1] then return {'not-found'} end
if meta[1] ~= ARGV[1] then return {'lost'} end
local top = tonumber(meta[2])
local offset = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if offset == nil or offset < 1 or offset > top or top - offset > limit then return {'lost'} end
if offset == top then return {'ok', {}} end
local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-1', '+', 'COUNT', limit)
local first = entries[1]
-- the entry right after the cursor must still be there: otherwise history was trimmed past it
if not first or first[1] ~= string.format('%d-1', offset + 1) then return {'lost'} end
return {'ok', entries}
`,
);

/** KEYS: meta, history. ARGV: limit. → {'not-found'} | {'ok', epoch, newest entries (newest first), length}. */
const readLatestScript = new LuaScript(
  'read-latest',
  `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {'not-found'} end
local limit = tonumber(ARGV[1])
local entries = {}
if limit > 0 then entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', limit) end
return {'ok', epoch, entries, redis.call('XLEN', KEYS[2])}
`,
);

/**
 * KEYS: meta, history. ARGV: 'latest' or 'before', cursor epoch, cursor offset, limit.
 * → {'not-found'} | {'foreign'} | {'ok', epoch, up to limit + 1 entries older than the cursor, newest first}.
 */
const readBeforeScript = new LuaScript(
  'read-before',
  `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return {'not-found'} end
local start = '+'
if ARGV[1] == 'before' then
  if ARGV[2] ~= epoch or tonumber(ARGV[3]) < 1 then return {'foreign'} end
  start = '(' .. ARGV[3] .. '-1'
end
local limit = tonumber(ARGV[4])
if limit <= 0 then return {'ok', epoch, {}} end
return {'ok', epoch, redis.call('XREVRANGE', KEYS[2], start, '-', 'COUNT', limit + 1)}
`,
);

/**
 * KEYS: lease, lease-token. ARGV: owner, ttl ms. → the fencing token, or nil when the lease is held.
 * The token counter starts from the server clock in microseconds when it does not exist (a new or
 * re-created thread), so tokens never repeat across a deleteThread.
 */
const acquireLeaseScript = new LuaScript(
  'acquire-lease',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. string.format('%d', token), 'PX', ARGV[2])
return token
`,
);

/** KEYS: lease. ARGV: `owner:token`, ttl ms. → 1 when renewed. */
const renewLeaseScript = new LuaScript(
  'renew-lease',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
);

/** KEYS: lease. ARGV: `owner:token`. → 1 when released. */
const releaseLeaseScript = new LuaScript(
  'release-lease',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`,
);

/** KEYS: meta, queue. ARGV: message id, max. → {'not-found'} | {'full', length} | {'ok', length}. */
const enqueueScript = new LuaScript(
  'enqueue',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not-found'} end
local length = redis.call('LLEN', KEYS[2])
if length >= tonumber(ARGV[2]) then return {'full', length} end
return {'ok', redis.call('RPUSH', KEYS[2], ARGV[1])}
`,
);

/** KEYS: queue. → every queued id, oldest first; the queue is emptied. */
const drainQueueScript = new LuaScript(
  'drain-queue',
  `
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
`,
);

// ---------------------------------------------------------------------------------------------
// The store.

interface ThreadSubscription {
  readonly listener: LiveListener;
  readonly onGap: (() => void) | undefined;
  /** Set once `subscribe` resolved: only confirmed subscriptions hear about gaps. */
  confirmed: boolean;
}

interface ChannelState {
  readonly channel: string;
  /** The thread whose events the channel carries; null for the control channel. */
  readonly threadId: string | null;
  readonly subscriptions: Set<ThreadSubscription>;
  /** The server confirmed the subscription on the current subscriber connection. */
  subscribed: boolean;
  /** The running (un)subscribe sequence, if any: one at a time per channel. */
  reconciling: Promise<void> | null;
}

type PublishCommand = 'PUBLISH' | 'SPUBLISH';

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  /** Whether the store talks to a Redis Cluster (sharded pub/sub) or one server (classic pub/sub). */
  readonly clustered: boolean;
  private readonly keys: RedisKeys;
  private readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly publishCommand: PublishCommand;
  private readonly historyMaxLength: number;
  private readonly idempotencyTtlMs: number;
  private readonly pingTimeoutMs: number;
  private readonly logger: Logger;
  private readonly channels = new Map<string, ChannelState>();
  private readonly control: ChannelState;
  private readonly signalListeners = new Set<(signal: ControlSignal) => void>();
  /** Bumped whenever the subscriber connection closes: a SUBSCRIBE answered on an older one is void. */
  private subscriberGeneration = 0;
  private subscriberUp = false;
  private closed = false;

  /** Creates the clients; prefer `RedisStore.connect`, which also waits until Redis is ready. */
  constructor(options: RedisStoreOptions) {
    this.keys = redisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.logger = options.logger ?? silentLogger;
    this.historyMaxLength = options.historyMaxLength ?? 0;
    this.idempotencyTtlMs = (options.idempotencyTtlSeconds ?? 86_400) * 1000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 1000;
    if (!Number.isSafeInteger(this.historyMaxLength) || this.historyMaxLength < 0) {
      throw new Error(`historyMaxLength must be a non-negative integer, got ${this.historyMaxLength}`);
    }
    const retry = backoff(options.reconnectMaxDelayMs ?? 2000);
    // Fail fast during an outage: no offline queue, no retry of commands that were in flight
    // (a Lua append may have run already), and a bound on every reply.
    const failFast = {
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
    } satisfies RedisOptions;

    if (options.cluster) {
      this.clustered = true;
      const clusterOptions: ClusterOptions = {
        clusterRetryStrategy: retry,
        enableOfflineQueue: false,
        ...options.cluster.options,
        redisOptions: { ...failFast, ...options.cluster.options?.redisOptions },
      };
      this.client = new Cluster(options.cluster.nodes, clusterOptions);
      this.subscriber = new Cluster(options.cluster.nodes, { ...clusterOptions, shardedSubscribers: true });
      this.subscriber.on('-node', this.subscriberOnNodeLost);
      this.subscriber.on('node error', this.clientOnNodeError('subscriber'));
      this.client.on('node error', this.clientOnNodeError('commands'));
    } else {
      this.clustered = false;
      const redisOptions: RedisOptions = {
        retryStrategy: retry,
        enableOfflineQueue: false,
        connectionName: 'chorus',
        ...failFast,
        ...options.redis,
      };
      const client =
        options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
      this.client = client;
      // The store re-subscribes by itself after a reconnect (and reports the gap first).
      this.subscriber = client.duplicate({ connectionName: 'chorus-subscriber', autoResubscribe: false });
      this.subscriber.on('close', this.subscriberOnClose);
      this.subscriber.on('ready', this.subscriberOnReady);
    }
    this.publishCommand = this.clustered ? 'SPUBLISH' : 'PUBLISH';
    this.client.on('error', this.clientOnError('commands'));
    this.subscriber.on('error', this.clientOnError('subscriber'));
    this.subscriber.on('message', this.subscriberOnMessage);
    this.subscriber.on('smessage', this.subscriberOnMessage);
    this.control = this.channelState(this.keys.controlChannel, null);
  }

  /**
   * Connects and waits until both connections are ready and the control channel is subscribed.
   * A `url` that points at a Cluster node is detected (INFO cluster) and used as a startup node.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    await store.ready(options.connectTimeoutMs ?? 10_000);
    if (options.cluster) return store;
    let clusterNode: boolean;
    try {
      clusterNode = await store.isClusterNode();
    } catch (error) {
      await store.close();
      throw error;
    }
    if (!clusterNode) return store;
    await store.close();
    const clusterStore = new RedisStore({ ...options, cluster: clusterFromUrl(options) });
    await clusterStore.ready(options.connectTimeoutMs ?? 10_000);
    return clusterStore;
  }

  // --- threads and history -------------------------------------------------------------------

  async createThread(input: { threadId: string; team: string; metadata?: Record<string, string> }) {
    return this.call('createThread', async () => {
      const keys = this.keys.thread(input.threadId);
      const record: ThreadRecord = {
        threadId: input.threadId,
        team: input.team,
        metadata: { ...input.metadata },
        epoch: nanoid(10),
        createdAt: new Date().toISOString(),
      };
      const reply = asArray(
        await createThreadScript.run(
          this.client,
          [keys.meta],
          [record.team, JSON.stringify(record.metadata), record.epoch, record.createdAt],
        ),
      );
      if (asInteger(reply[0]) === 0) return { thread: record, existing: false };
      return { thread: this.decodeThread(input.threadId, pairs(asArray(reply[1]))), existing: true };
    });
  }

  async getThread(threadId: string) {
    return this.call('getThread', async () => {
      const fields = await this.client.hgetall(this.keys.thread(threadId).meta);
      return Object.keys(fields).length === 0 ? null : this.decodeThread(threadId, fields);
    });
  }

  async deleteThread(threadId: string) {
    return this.call('deleteThread', async () => {
      const keys = allThreadKeys(this.keys.thread(threadId));
      return asInteger(await deleteThreadScript.run(this.client, keys, [])) === 1;
    });
  }

  async findByClientMessageId(threadId: string, clientMessageId: string) {
    return this.call('findByClientMessageId', async () => {
      const keys = this.keys.thread(threadId);
      const reply = asArray(
        await findByClientMessageIdScript.run(
          this.client,
          [keys.meta, keys.history, keys.idempotency, keys.idempotencyTimes],
          [clientMessageId, Date.now(), this.idempotencyTtlMs],
        ),
      );
      if (reply.length < 3) return null;
      const message = this.decodeFields(threadId, pairs(asArray(reply[2])));
      return message ? { cursor: `${asString(reply[0])}.${asInteger(reply[1])}`, message } : null;
    });
  }

  async getThreadValue(threadId: string, name: string) {
    return this.call('getThreadValue', async () => this.client.hget(this.keys.thread(threadId).values, name));
  }

  async setThreadValue(threadId: string, name: string, value: string) {
    await this.call('setThreadValue', async () => {
      const keys = this.keys.thread(threadId);
      await setThreadValueScript.run(this.client, [keys.meta, keys.values], [name, value]);
    });
  }

  async deleteThreadValue(threadId: string, name: string) {
    await this.call('deleteThreadValue', async () => {
      await this.client.hdel(this.keys.thread(threadId).values, name);
    });
  }

  async append(threadId: string, message: Message, options: AppendOptions = {}) {
    return this.call('append', async () => {
      const { item, duplicate } = await this.appendInScript(threadId, message, null, options);
      return { item, duplicate };
    });
  }

  async appendAndPublish(
    threadId: string,
    message: Message,
    kind: 'message' | 'message-end',
    options: AppendOptions = {},
  ) {
    return this.call('appendAndPublish', () => this.appendInScript(threadId, message, kind, options));
  }

  async readAfter(threadId: string, cursor: string, limit: number) {
    return this.call('readAfter', async () => {
      const keys = this.keys.thread(threadId);
      const position = parseCursor(cursor);
      const reply = asArray(
        await readAfterScript.run(
          this.client,
          [keys.meta, keys.history],
          [position?.epoch ?? '', position?.offset ?? 0, Math.max(0, Math.floor(limit))],
        ),
      );
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      if (status !== 'ok' || position === null) return { recovered: false, items: [] };
      return { recovered: true, items: this.decodeEntries(threadId, position.epoch, asArray(reply[1])) };
    });
  }

  async readLatest(threadId: string, limit: number) {
    return this.call('readLatest', async () => {
      const keys = this.keys.thread(threadId);
      const reply = asArray(
        await readLatestScript.run(this.client, [keys.meta, keys.history], [Math.max(0, Math.floor(limit))]),
      );
      if (asString(reply[0]) === 'not-found') throw notFound(threadId);
      const entries = asArray(reply[2]).reverse();
      const items = this.decodeEntries(threadId, asString(reply[1]), entries);
      return { items, truncated: asInteger(reply[3]) > entries.length };
    });
  }

  async readBefore(threadId: string, before: string | undefined, limit: number) {
    return this.call('readBefore', async () => {
      const keys = this.keys.thread(threadId);
      const count = Math.max(0, Math.floor(limit));
      const position = before === undefined ? null : parseCursor(before);
      const args =
        before === undefined
          ? ['latest', '', 0, count]
          : ['before', position?.epoch ?? '', position?.offset ?? 0, count];
      const reply = asArray(await readBeforeScript.run(this.client, [keys.meta, keys.history], args));
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      if (status !== 'ok') return { items: [], hasMore: false };
      const entries = asArray(reply[2]);
      const hasMore = entries.length > count;
      const page = (hasMore ? entries.slice(0, count) : entries).reverse();
      return { items: this.decodeEntries(threadId, asString(reply[1]), page), hasMore };
    });
  }

  // --- live bus ------------------------------------------------------------------------------

  async publish(threadId: string, event: ThreadEvent): Promise<LiveEnvelope> {
    return this.call('publish', async () => {
      const keys = this.keys.thread(threadId);
      const frame = JSON.stringify(event);
      const liveId = asString(
        await publishScript.run(
          this.client,
          [keys.live],
          [event.type, frame, keys.channel, this.publishCommand],
        ),
      );
      return { liveId, event, frame };
    });
  }

  async subscribe(threadId: string, listener: LiveListener, onGap?: () => void) {
    if (this.closed) throw closedError('subscribe');
    const state = this.channelState(this.keys.thread(threadId).channel, threadId);
    const subscription: ThreadSubscription = { listener, onGap, confirmed: false };
    state.subscriptions.add(subscription);
    try {
      await this.reconcile(state);
      if (!state.subscribed) throw new Error('the store closed while subscribing');
    } catch (error) {
      state.subscriptions.delete(subscription);
      this.forgetIfIdle(state);
      throw toStoreError('subscribe', error);
    }
    subscription.confirmed = true;
    let active = true;
    return async () => {
      if (!active) return;
      active = false;
      state.subscriptions.delete(subscription);
      try {
        await this.reconcile(state);
      } catch (error) {
        // The server drops subscriptions with the connection; a reconnect will not restore it.
        this.logger.debug({ err: error, threadId }, 'unsubscribe did not reach Redis');
      }
    };
  }

  async currentRun(threadId: string) {
    return this.call('currentRun', async () => {
      const reply = asArray(await currentRunScript.run(this.client, [this.keys.thread(threadId).live], []));
      const lastLiveId = asString(reply[0]);
      const events: LiveEnvelope[] = [];
      for (const entry of asArray(reply[1])) {
        const [id, fields] = asArray(entry);
        const frame = pairs(asArray(fields)).frame;
        const envelope = frame === undefined ? null : envelopeOf(asString(id), frame);
        if (envelope) events.push(envelope);
        else this.logger.warn({ threadId, liveId: id }, 'skipped an unreadable live stream entry');
      }
      return { events, lastLiveId: lastLiveId === '' ? null : lastLiveId };
    });
  }

  async signal(signal: ControlSignal) {
    return this.call('signal', async () => {
      await this.client.publish(this.keys.controlChannel, JSON.stringify(signal));
    });
  }

  onSignal(listener: (signal: ControlSignal) => void) {
    this.signalListeners.add(listener);
    return () => void this.signalListeners.delete(listener);
  }

  // --- run lease -----------------------------------------------------------------------------

  async acquireLease(threadId: string, owner: string, ttlMs: number) {
    return this.call('acquireLease', async () => {
      const keys = this.keys.thread(threadId);
      const reply = await acquireLeaseScript.run(
        this.client,
        [keys.lease, keys.leaseToken],
        [owner, leaseTtl(ttlMs)],
      );
      return reply === null ? null : { threadId, owner, token: asInteger(reply) };
    });
  }

  async renewLease(lease: LeaseHandle, ttlMs: number) {
    return this.call('renewLease', async () => {
      const key = this.keys.thread(lease.threadId).lease;
      return (
        asInteger(await renewLeaseScript.run(this.client, [key], [leaseValue(lease), leaseTtl(ttlMs)])) === 1
      );
    });
  }

  async releaseLease(lease: LeaseHandle) {
    return this.call('releaseLease', async () => {
      await releaseLeaseScript.run(
        this.client,
        [this.keys.thread(lease.threadId).lease],
        [leaseValue(lease)],
      );
    });
  }

  async leaseHolder(threadId: string) {
    return this.call('leaseHolder', async () => {
      const value = await this.client.get(this.keys.thread(threadId).lease);
      if (value === null) return null;
      const colon = value.lastIndexOf(':');
      return { owner: value.slice(0, colon), token: Number(value.slice(colon + 1)) };
    });
  }

  // --- run queue -----------------------------------------------------------------------------

  async enqueue(threadId: string, messageId: string, max: number) {
    return this.call('enqueue', async () => {
      const keys = this.keys.thread(threadId);
      const reply = asArray(await enqueueScript.run(this.client, [keys.meta, keys.queue], [messageId, max]));
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      return { accepted: status === 'ok', position: asInteger(reply[1]) };
    });
  }

  async drainQueue(threadId: string) {
    return this.call('drainQueue', async () => {
      const reply = asArray(await drainQueueScript.run(this.client, [this.keys.thread(threadId).queue], []));
      return reply.map((item) => asString(item));
    });
  }

  async queueLength(threadId: string) {
    return this.call('queueLength', () => this.client.llen(this.keys.thread(threadId).queue));
  }

  // --- lifecycle -----------------------------------------------------------------------------

  /** Resolves when both connections serve: PING answered within `pingTimeoutMs`, subscriber ready. */
  async ping() {
    return this.call('ping', async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no PONG within ${this.pingTimeoutMs} ms`)),
          this.pingTimeoutMs,
        );
      });
      try {
        await Promise.race([this.client.ping(), timeout]);
      } finally {
        clearTimeout(timer);
      }
      if (this.subscriber.status !== 'ready') {
        throw new Error(`subscriber connection is ${this.subscriber.status}`);
      }
    });
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    this.signalListeners.clear();
    await this.quit(this.subscriber, 'subscriber');
    await this.quit(this.client, 'commands');
  }

  /**
   * A warning when Redis may evict Chorus's keys under memory pressure (any policy but
   * `noeviction`), or when the policy cannot be read (CONFIG disabled, as on managed services);
   * null when it is safe.
   */
  async checkEvictionPolicy(): Promise<string | null> {
    let reply: unknown;
    try {
      reply = await this.client.config('GET', 'maxmemory-policy');
    } catch (error) {
      this.logger.debug({ err: error }, 'CONFIG GET maxmemory-policy failed');
      return 'could not read the Redis maxmemory-policy (CONFIG is disabled?): make sure it is noeviction, or thread history may be evicted';
    }
    const policy = Array.isArray(reply) ? reply[1] : undefined;
    if (policy === 'noeviction') return null;
    return `Redis maxmemory-policy is ${String(policy)}: under memory pressure Redis may evict thread history; set it to noeviction`;
  }

  // --- internals -----------------------------------------------------------------------------

  /** Waits until both connections are ready and the control channel is subscribed. */
  private async ready(timeoutMs: number) {
    try {
      await Promise.all([waitForReady(this.client, timeoutMs), waitForReady(this.subscriber, timeoutMs)]);
      await this.reconcile(this.control);
    } catch (error) {
      await this.close();
      throw new StoreError('unavailable', 'Redis is not reachable', { cause: error });
    }
  }

  private async isClusterNode(): Promise<boolean> {
    const info = await this.call('connect', () => this.client.info('cluster'));
    return /^cluster_enabled:1\s*$/m.test(info);
  }

  /** Runs one store operation: refuses after close, maps Redis failures to StoreError 'unavailable'. */
  private async call<T>(operation: string, body: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedError(operation);
    try {
      return await body();
    } catch (error) {
      throw toStoreError(operation, error);
    }
  }

  private async appendInScript(
    threadId: string,
    message: Message,
    kind: 'message' | 'message-end' | null,
    options: AppendOptions,
  ): Promise<{ item: StoredItem; duplicate: boolean; envelope: LiveEnvelope | null }> {
    const keys = this.keys.thread(threadId);
    const messageJson = JSON.stringify(message);
    // The event frame is built around the cursor, which only the script knows: head .. cursor .. tail
    // is exactly JSON.stringify(event) for the event built below.
    const quotedThreadId = JSON.stringify(threadId);
    const head =
      kind === 'message-end'
        ? `{"type":"message-end","threadId":${quotedThreadId},"messageId":${JSON.stringify(message.id)},"cursor":"`
        : `{"type":"message","threadId":${quotedThreadId},"cursor":"`;
    const tail = `","message":${messageJson}}`;
    const reply = asArray(
      await appendScript.run(
        this.client,
        [keys.meta, keys.history, keys.idempotency, keys.idempotencyTimes, keys.lease, keys.live],
        [
          messageJson,
          message.clientMessageId ?? '',
          options.fence ? leaseValue(options.fence) : '',
          this.historyMaxLength,
          this.idempotencyTtlMs,
          kind ?? '',
          head,
          tail,
          keys.channel,
          this.publishCommand,
        ],
      ),
    );
    const status = asString(reply[0]);
    if (status === 'not-found') throw notFound(threadId);
    if (status === 'lease-lost') {
      throw new StoreError('lease-lost', `run lease of thread ${threadId} is no longer held`);
    }
    const cursor = `${asString(reply[1])}.${asInteger(reply[2])}`;
    if (status === 'duplicate') {
      // The first item, as stored; if it was trimmed since, its cursor with the message retried.
      const fields = reply[3] === undefined || reply[3] === null ? null : pairs(asArray(reply[3]));
      const stored = fields ? this.decodeFields(threadId, fields) : null;
      return { item: { cursor, message: stored ?? message }, duplicate: true, envelope: null };
    }
    const item: StoredItem = { cursor, message };
    if (kind === null) return { item, duplicate: false, envelope: null };
    const event: ThreadEvent =
      kind === 'message'
        ? { type: 'message', threadId, cursor, message }
        : { type: 'message-end', threadId, messageId: message.id, cursor, message };
    const envelope = { liveId: asString(reply[3]), event, frame: head + cursor + tail };
    return { item, duplicate: false, envelope };
  }

  private decodeThread(threadId: string, fields: Record<string, string>): ThreadRecord {
    return {
      threadId,
      team: fields.team ?? '',
      metadata: parseMetadata(fields.metadata),
      epoch: fields.epoch ?? '',
      createdAt: fields.createdAt ?? '',
    };
  }

  /** History entries → items, skipping (and logging) entries this version cannot read. */
  private decodeEntries(threadId: string, epoch: string, entries: unknown[]): StoredItem[] {
    const items: StoredItem[] = [];
    for (const entry of entries) {
      const [id, fields] = asArray(entry);
      const entryId = asString(id);
      const message = this.decodeFields(threadId, pairs(asArray(fields)), entryId);
      if (message) items.push({ cursor: `${epoch}.${entryId.slice(0, entryId.indexOf('-'))}`, message });
    }
    return items;
  }

  private decodeFields(threadId: string, fields: Record<string, string>, entryId?: string): Message | null {
    if (fields.v !== HISTORY_ENTRY_VERSION) {
      this.logger.warn(
        { threadId, entryId, version: fields.v },
        'skipped a history entry of an unknown version',
      );
      return null;
    }
    const message = parseMessage(fields.message);
    if (!message) this.logger.error({ threadId, entryId }, 'skipped an unreadable history entry');
    return message;
  }

  // --- subscriptions ---------------------------------------------------------------------------

  private channelState(channel: string, threadId: string | null): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = { channel, threadId, subscriptions: new Set(), subscribed: false, reconciling: null };
      this.channels.set(channel, state);
    }
    return state;
  }

  private forgetIfIdle(state: ChannelState) {
    if (
      state.threadId !== null &&
      state.subscriptions.size === 0 &&
      !state.subscribed &&
      !state.reconciling
    ) {
      this.channels.delete(state.channel);
    }
  }

  /**
   * Brings the server-side subscription of a channel in line with its local subscriptions, one
   * SUBSCRIBE / UNSUBSCRIBE at a time; callers that arrive meanwhile share the running sequence.
   */
  private reconcile(state: ChannelState): Promise<void> {
    if (state.reconciling) return state.reconciling;
    // `finally` runs asynchronously even when the sequence has nothing to do, so it always clears
    // the promise assigned here.
    const running = this.reconcileSequence(state).finally(() => {
      state.reconciling = null;
      this.forgetIfIdle(state);
    });
    state.reconciling = running;
    return running;
  }

  private async reconcileSequence(state: ChannelState): Promise<void> {
    for (;;) {
      const wanted = !this.closed && (state.threadId === null || state.subscriptions.size > 0);
      if (wanted === state.subscribed) return;
      const sharded = this.clustered && state.threadId !== null;
      const generation = this.subscriberGeneration;
      if (wanted) {
        await (sharded
          ? this.subscriber.ssubscribe(state.channel)
          : this.subscriber.subscribe(state.channel));
        // Answered on a connection that has closed since: subscribe again on the new one.
        if (generation === this.subscriberGeneration) state.subscribed = true;
      } else {
        await (sharded
          ? this.subscriber.sunsubscribe(state.channel)
          : this.subscriber.unsubscribe(state.channel));
        state.subscribed = false;
      }
    }
  }

  private signalGaps(reason: string) {
    for (const state of this.channels.values()) {
      if (state.threadId === null) continue;
      for (const subscription of state.subscriptions) {
        if (!subscription.confirmed || !subscription.onGap) continue;
        try {
          subscription.onGap();
        } catch (error) {
          this.logger.error({ err: error, threadId: state.threadId }, 'onGap listener threw');
        }
      }
      if (state.subscriptions.size > 0)
        this.logger.info({ threadId: state.threadId, reason }, 'live delivery gap');
    }
  }

  /** Standalone: the subscriber connection dropped; the server forgot every subscription. */
  private readonly subscriberOnClose = () => {
    this.subscriberGeneration += 1;
    for (const state of this.channels.values()) state.subscribed = false;
    if (!this.subscriberUp) return;
    this.subscriberUp = false;
    if (!this.closed) this.signalGaps('subscriber connection closed');
  };

  /** Standalone: the subscriber (re)connected: subscribe every channel that has listeners again. */
  private readonly subscriberOnReady = () => {
    this.subscriberUp = true;
    for (const state of [...this.channels.values()]) {
      this.reconcile(state).catch((error: unknown) => {
        if (this.closed) return;
        // Without the subscription the channel would stay silent: start over with a new connection
        // (subscribers are told about the gap when it closes).
        this.logger.warn(
          { err: error, channel: state.channel },
          're-subscribe failed, reconnecting the subscriber',
        );
        if (this.subscriber.status === 'ready') this.subscriber.disconnect(true);
      });
    }
  };

  /** Cluster: a subscriber node went away; ioredis re-subscribes, but events may have been lost. */
  private readonly subscriberOnNodeLost = () => {
    if (!this.closed) this.signalGaps('cluster subscriber node lost');
  };

  private readonly subscriberOnMessage = (channel: string, payload: string) => {
    const state = this.channels.get(channel);
    if (!state) return;
    if (state.threadId === null) {
      this.deliverSignal(payload);
      return;
    }
    if (state.subscriptions.size === 0) return;
    const envelope = decodeLivePayload(payload);
    if (!envelope) {
      this.logger.warn({ threadId: state.threadId }, 'dropped an unreadable live event');
      return;
    }
    for (const subscription of state.subscriptions) {
      try {
        subscription.listener(envelope);
      } catch (error) {
        this.logger.error({ err: error, threadId: state.threadId }, 'live listener threw');
      }
    }
  };

  private deliverSignal(payload: string) {
    const signal = parseSignal(payload);
    if (!signal) {
      this.logger.warn({ payload: payload.slice(0, 200) }, 'dropped an unreadable control signal');
      return;
    }
    for (const listener of this.signalListeners) {
      try {
        listener(signal);
      } catch (error) {
        this.logger.error({ err: error, signal }, 'signal listener threw');
      }
    }
  }

  private clientOnError(connection: string) {
    return (error: Error) => this.logger.warn({ err: error, connection }, 'redis connection error');
  }

  private clientOnNodeError(connection: string) {
    return (error: Error, node: string) =>
      this.logger.warn({ err: error, connection, node }, 'redis node error');
  }

  private async quit(client: RedisClient, connection: string) {
    try {
      await client.quit();
    } catch (error) {
      this.logger.debug({ err: error, connection }, 'QUIT failed, disconnecting');
      client.disconnect();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function backoff(maxDelayMs: number) {
  return (attempt: number) => {
    const ceiling = Math.min(maxDelayMs, 50 * 2 ** Math.min(attempt, 16));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };
}

function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('the Redis connection ended'));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
    };
    client.on('ready', onReady);
    client.on('end', onEnd);
  });
}

function clusterFromUrl(options: RedisStoreOptions): NonNullable<RedisStoreOptions['cluster']> {
  const url = new URL(options.url ?? 'redis://127.0.0.1:6379');
  const redisOptions: NonNullable<ClusterOptions['redisOptions']> = {};
  if (url.username) redisOptions.username = decodeURIComponent(url.username);
  if (url.password) redisOptions.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') redisOptions.tls = {};
  return {
    nodes: [{ host: url.hostname || '127.0.0.1', port: url.port ? Number(url.port) : 6379 }],
    options: { redisOptions },
  };
}

function toStoreError(operation: string, error: unknown): StoreError {
  if (error instanceof StoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError('unavailable', `Redis ${operation} failed: ${detail}`, { cause: error });
}

function closedError(operation: string) {
  return new StoreError('unavailable', `store is closed (${operation})`);
}

function notFound(threadId: string) {
  return new StoreError('not-found', `thread ${threadId} not found`);
}

function leaseValue(lease: LeaseHandle) {
  return `${lease.owner}:${lease.token}`;
}

function leaseTtl(ttlMs: number) {
  return Math.max(1, Math.ceil(ttlMs));
}

/** `<epoch>.<offset>` → its parts, or null when the string is not a cursor of this format. */
function parseCursor(cursor: string): { epoch: string; offset: number } | null {
  const dot = cursor.lastIndexOf('.');
  if (dot <= 0) return null;
  const digits = cursor.slice(dot + 1);
  if (!/^[1-9][0-9]{0,14}$/.test(digits)) return null;
  return { epoch: cursor.slice(0, dot), offset: Number(digits) };
}

const LIVE_HEAD = '{"liveId":"';
const LIVE_SEPARATOR = '","event":';

/** `{"liveId":"…","event":<frame>}` → the envelope, with `frame` exactly the published frame. */
function decodeLivePayload(payload: string): LiveEnvelope | null {
  if (!payload.startsWith(LIVE_HEAD) || !payload.endsWith('}')) return null;
  const separator = payload.indexOf(LIVE_SEPARATOR, LIVE_HEAD.length);
  if (separator < 0) return null;
  return envelopeOf(
    payload.slice(LIVE_HEAD.length, separator),
    payload.slice(separator + LIVE_SEPARATOR.length, -1),
  );
}

function envelopeOf(liveId: string, frame: string): LiveEnvelope | null {
  const event = parseJson(frame);
  if (!isRecord(event) || typeof event.type !== 'string' || typeof event.threadId !== 'string') return null;
  return { liveId, event: event as ThreadEvent, frame };
}

function parseMessage(json: string | undefined): Message | null {
  if (json === undefined) return null;
  const message = parseJson(json);
  if (!isRecord(message) || typeof message.id !== 'string' || typeof message.text !== 'string') return null;
  return message as Message;
}

function parseMetadata(json: string | undefined): Record<string, string> {
  const metadata = json === undefined ? null : parseJson(json);
  if (!isRecord(metadata)) return {};
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) if (typeof value === 'string') result[key] = value;
  return result;
}

function parseSignal(payload: string): ControlSignal | null {
  const signal = parseJson(payload);
  if (!isRecord(signal) || typeof signal.threadId !== 'string') return null;
  if (signal.type === 'delete') return { type: 'delete', threadId: signal.threadId };
  if (
    signal.type === 'cancel' &&
    typeof signal.runId === 'string' &&
    (signal.reason === 'cancelled' || signal.reason === 'superseded')
  ) {
    return { type: 'cancel', threadId: signal.threadId, runId: signal.runId, reason: signal.reason };
  }
  return null;
}

/** JSON.parse that answers undefined for text that is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Reply decoding: scripts answer nested arrays of strings and integers (RESP2 shapes).

function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value))
    throw new TypeError(`unexpected Redis reply: ${typeof value} instead of an array`);
  return value;
}

function asString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === 'number') return String(value);
  throw new TypeError(`unexpected Redis reply: ${typeof value} instead of a string`);
}

function asInteger(value: unknown): number {
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw new TypeError(`unexpected Redis reply: ${String(value)} instead of an integer`);
  }
  return number;
}

/** [field, value, field, value, …] → { field: value }. */
function pairs(flat: unknown[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let index = 0; index + 1 < flat.length; index += 2) {
    result[asString(flat[index])] = asString(flat[index + 1]);
  }
  return result;
}
