// The Store port on Redis (standalone or Cluster). Design, keys and transitions: docs/storage.md.
//
// - every transition is one Lua script (src/store/lua/, registered by redis-scripts.ts) over the
//   keys of one thread, which share a Cluster slot: post, run start, every run event, run end,
//   recovery, cancel and delete each happen whole or not at all;
// - history: one stream per thread, entry ids `<offset>-1` from a per-thread counter, cursors
//   `<epoch>.<offset>`;
// - live bus: every event gets the thread's next live sequence number and is published on the
//   thread's channel (sharded pub/sub on Cluster); redis-subscriptions.ts delivers and checks it;
// - lease: `owner:token` with PX and a per-thread fencing counter, checked by every run write.
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { nanoid } from 'nanoid';
import type { Message, ThreadEvent } from '../protocol/frames.ts';
import { silentLogger, type Logger } from '../log.ts';
import { DEFAULT_REDIS_PREFIX, redisKeys, threadScriptKeys, type RedisKeys } from './redis-keys.ts';
import { asArray, asInteger, asString, pairs } from './redis-replies.ts';
import { RedisScripts, type ThreadScriptName } from './redis-scripts.ts';
import { envelopeOf, isRecord, parseJson, RedisSubscriptions } from './redis-subscriptions.ts';
import { runEndEvent } from './run-end-event.ts';
import { formatCursor, parseCursor } from './cursor.ts';
import {
  StoreError,
  type AcquireResult,
  type CancelReason,
  type ControlSignal,
  type FinishResult,
  type LeaseHandle,
  type LiveEnvelope,
  type LiveListener,
  type PostInput,
  type PostResult,
  type RunClaim,
  type RunEnd,
  type RunPost,
  type RunRecord,
  type RunState,
  type StartRunOptions,
  type ContextMark,
  type Store,
  type StoredItem,
  type SweepIndex,
  type ThreadRecord,
} from './store.ts';

export interface RedisStoreOptions {
  /** `redis://` URL of a standalone server (or of one Cluster node: `connect` detects a Cluster). */
  url?: string | undefined;
  /** ioredis options for a standalone server, applied over `url`. */
  redis?: RedisOptions | undefined;
  /** A Redis Cluster: startup nodes and ioredis Cluster options. Takes precedence over `url`. */
  cluster?: { nodes: ClusterNode[]; options?: ClusterOptions };
  /** Prefix of every key and channel. @default 'chorus' */
  prefix?: string | undefined;
  /**
   * Keep about this many messages per thread (`XADD MAXLEN ~`: at least this many, trimmed by
   * whole stream nodes); 0 keeps all. @default 0
   */
  historyMaxLength?: number | undefined;
  /** @default a silent logger */
  logger?: Logger | undefined;
  /** How long a clientMessageId is remembered for idempotent posts. @default 86400 */
  idempotencyTtlSeconds?: number | undefined;
  /** A command without a reply after this long fails with `unavailable`. @default 5000 */
  commandTimeoutMs?: number | undefined;
  /** Timeout of `ping()`. @default 1000 */
  pingTimeoutMs?: number | undefined;
  /** Upper bound of the jittered exponential reconnect backoff. @default 2000 */
  reconnectMaxDelayMs?: number | undefined;
  /** How long `connect` waits for Redis. @default 10000 */
  connectTimeoutMs?: number | undefined;
}

/** Stored history entries carry this schema version in their `v` field. */
export const HISTORY_ENTRY_VERSION = '1';

type RedisClient = Redis | Cluster;
type PublishCommand = 'PUBLISH' | 'SPUBLISH';
type StartArguments = Omit<StartRunOptions, 'owner' | 'leaseMs'>;

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  /** Whether the store talks to a Redis Cluster (sharded pub/sub) or one server (classic pub/sub). */
  readonly clustered: boolean;
  private readonly keys: RedisKeys;
  private readonly client: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly scripts: RedisScripts;
  private readonly subscriptions: RedisSubscriptions;
  private readonly publishCommand: PublishCommand;
  private readonly historyMaxLength: number;
  private readonly idempotencyTtlMs: number;
  private readonly pingTimeoutMs: number;
  private readonly logger: Logger;
  /** Scores an index had when this instance claimed a thread from it (for forgetIdle), by claimKey. */
  private readonly claimedScores = new Map<string, string>();
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
    // (a script may have run already), and a bound on every reply.
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
      // Commands issued in the same tick (every thread's deltas, a post and its sweep mark) leave in
      // one write.
      this.client = new Cluster(options.cluster.nodes, { enableAutoPipelining: true, ...clusterOptions });
      this.subscriber = new Cluster(options.cluster.nodes, { ...clusterOptions, shardedSubscribers: true });
      this.subscriber.on('node error', this.clientOnNodeError('subscriber'));
      this.client.on('node error', this.clientOnNodeError('commands'));
    } else {
      this.clustered = false;
      const redisOptions: RedisOptions = {
        retryStrategy: retry,
        enableOfflineQueue: false,
        connectionName: 'chorus',
        // Commands issued in the same tick (every thread's deltas, a post and its sweep mark) leave
        // in one write.
        enableAutoPipelining: true,
        ...failFast,
        ...options.redis,
      };
      const client =
        options.url === undefined ? new Redis(redisOptions) : new Redis(options.url, redisOptions);
      this.client = client;
      // The store re-subscribes by itself after a reconnect (and reports the gap first).
      this.subscriber = client.duplicate({
        connectionName: 'chorus-subscriber',
        autoResubscribe: false,
        enableAutoPipelining: false,
      });
    }
    this.publishCommand = this.clustered ? 'SPUBLISH' : 'PUBLISH';
    this.scripts = new RedisScripts(this.client);
    this.client.on('error', this.clientOnError('commands'));
    this.subscriber.on('error', this.clientOnError('subscriber'));
    this.subscriptions = new RedisSubscriptions({
      subscriber: this.subscriber,
      clustered: this.clustered,
      controlChannel: this.keys.controlChannel,
      readLastSeq: async (threadId) => {
        const value = await this.client.get(this.keys.thread(threadId).liveSeq);
        return value === null ? 0 : asInteger(value);
      },
      logger: this.logger,
    });
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
      const record: ThreadRecord = {
        threadId: input.threadId,
        team: input.team,
        metadata: { ...input.metadata },
        epoch: nanoid(10),
        createdAt: new Date().toISOString(),
      };
      const reply = asArray(
        await this.run('create-thread', input.threadId, [
          record.team,
          JSON.stringify(record.metadata),
          record.epoch,
          record.createdAt,
        ]),
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
      const frame = JSON.stringify({ type: 'thread-deleted', threadId } satisfies ThreadEvent);
      return asInteger(await this.run('delete-thread', threadId, [frame])) === 1;
    });
  }

  async announceLostThread(threadId: string) {
    return this.call('announceLostThread', async () => {
      const frame = JSON.stringify({ type: 'thread-deleted', threadId } satisfies ThreadEvent);
      return asInteger(await this.run('announce-lost-thread', threadId, [frame])) === 1;
    });
  }

  async findByClientMessageId(threadId: string, clientMessageId: string) {
    return this.call('findByClientMessageId', async () => {
      const reply = asArray(
        await this.run('find-by-client-message-id', threadId, [clientMessageId, this.idempotencyTtlMs]),
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
      await this.run('set-thread-value', threadId, [name, value]);
    });
  }

  async deleteThreadValue(threadId: string, name: string) {
    await this.call('deleteThreadValue', async () => {
      await this.client.hdel(this.keys.thread(threadId).values, name);
    });
  }

  async readAfter(threadId: string, cursor: string, limit: number) {
    return this.call('readAfter', async () => {
      const position = parseCursor(cursor);
      const reply = asArray(
        await this.run('read-after', threadId, [
          position?.epoch ?? '',
          position?.offset ?? 0,
          Math.max(0, Math.floor(limit)),
        ]),
      );
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      if (status !== 'ok' || position === null)
        return { recovered: false, items: [], missed: 0, newest: null };
      const missed = asInteger(reply[1]);
      return {
        recovered: true,
        items: this.decodeEntries(threadId, position.epoch, asArray(reply[2])),
        missed,
        newest: formatCursor(position.epoch, position.offset + missed),
      };
    });
  }

  async readLatest(threadId: string, limit: number) {
    return this.call('readLatest', async () => {
      const reply = asArray(await this.run('read-latest', threadId, [Math.max(0, Math.floor(limit))]));
      if (asString(reply[0]) === 'not-found') throw notFound(threadId);
      const entries = asArray(reply[2]).reverse();
      const items = this.decodeEntries(threadId, asString(reply[1]), entries);
      return { items, truncated: asInteger(reply[3]) > entries.length };
    });
  }

  async readBefore(threadId: string, before: string | undefined, limit: number) {
    return this.call('readBefore', async () => {
      const count = Math.max(0, Math.floor(limit));
      const position = before === undefined ? null : parseCursor(before);
      const args =
        before === undefined
          ? ['latest', '', 0, count]
          : ['before', position?.epoch ?? '', position?.offset ?? 0, count];
      const reply = asArray(await this.run('read-before', threadId, args));
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      if (status !== 'ok') return { items: [], hasMore: false };
      const entries = asArray(reply[2]);
      const hasMore = entries.length > count;
      const page = (hasMore ? entries.slice(0, count) : entries).reverse();
      return { items: this.decodeEntries(threadId, asString(reply[1]), page), hasMore };
    });
  }

  async importMessages(threadId: string, messages: readonly Message[]) {
    return this.call('importMessages', async () => {
      if (messages.length === 0) return [];
      const head = `{"type":"message","threadId":${JSON.stringify(threadId)},"cursor":"`;
      const args: (string | number)[] = [this.historyMaxLength];
      for (const message of messages) {
        const json = JSON.stringify(message);
        args.push(head, `","message":${json}}`, json);
      }
      const reply = asArray(await this.run('import-messages', threadId, args));
      if (asString(reply[0]) === 'not-found') throw notFound(threadId);
      const epoch = asString(reply[1]);
      const first = asInteger(reply[2]);
      return messages.map((message, index) => ({ cursor: formatCursor(epoch, first + index), message }));
    });
  }

  // --- posts and runs ------------------------------------------------------------------------

  async post(input: PostInput): Promise<PostResult> {
    return this.call('post', async () => {
      const { threadId, message, start } = input;
      const messageJson = JSON.stringify(message);
      // The frame is built around the cursor, which only the script knows: head .. cursor .. tail
      // is exactly JSON.stringify of the event built below.
      const head = `{"type":"message","threadId":${JSON.stringify(threadId)},"cursor":"`;
      const tail = `","message":${messageJson}}`;
      const reply = asArray(
        await this.run('post', threadId, [
          messageJson,
          message.id,
          message.clientMessageId ?? '',
          input.team,
          input.multitask,
          input.queueMax,
          this.idempotencyTtlMs,
          this.historyMaxLength,
          head,
          tail,
          start?.owner ?? '',
          start ? leaseTtl(start.leaseMs) : 0,
          start?.runId ?? '',
          JSON.stringify(threadId),
          start?.contextLimit ?? 0,
          ...contextMarkArgs(start?.contextAfter),
        ]),
      );
      const status = asString(reply[0]);
      switch (status) {
        case 'not-found':
          throw notFound(threadId);
        case 'team-changed':
          return { status: 'team-changed', team: asString(reply[1]) };
        case 'busy':
          return {
            status: 'busy',
            reason: asString(reply[1]) === 'run-active' ? 'run-active' : 'queue-full',
          };
        case 'duplicate': {
          const cursor = `${asString(reply[1])}.${asInteger(reply[2])}`;
          const fields = pairs(asArray(reply[3]));
          // The first item, as stored; if it was trimmed since, its cursor with the message retried.
          const stored = fields.v === undefined ? null : this.decodeFields(threadId, fields);
          return {
            status: 'duplicate',
            item: { cursor, message: stored ?? message },
            queued: asInteger(reply[4]) === 1,
            needsRun: asInteger(reply[5]) === 1,
          };
        }
        case 'stored': {
          const cursor = `${asString(reply[1])}.${asInteger(reply[2])}`;
          const event: ThreadEvent = { type: 'message', threadId, cursor, message };
          const claimReply = asArray(reply[6]);
          const run =
            start && claimReply.length > 0
              ? this.decodeClaim(threadId, start.owner, asString(reply[1]), claimReply)
              : null;
          return {
            status: 'stored',
            item: { cursor, message },
            envelope: { liveSeq: asInteger(reply[3]), event, frame: head + cursor + tail },
            queued: asInteger(reply[4]) === 1,
            supersededRunId: asString(reply[5]) || null,
            run,
            needsRun: asInteger(reply[7]) === 1,
          };
        }
        default:
          throw new TypeError(`unexpected post reply ${status}`);
      }
    });
  }

  async acquireLease(threadId: string, owner: string, leaseMs: number): Promise<AcquireResult | null> {
    return this.call('acquireLease', async () => {
      const reply = asArray(await this.run('acquire-lease', threadId, [owner, leaseTtl(leaseMs)]));
      const status = asString(reply[0]);
      if (status === 'not-found') throw notFound(threadId);
      if (status === 'held') return null;
      const token = asInteger(reply[1]);
      const fields = pairs(asArray(reply[2]));
      return {
        lease: { threadId, owner, token },
        orphan: fields.runId === undefined ? null : decodeRunRecord(fields),
        queued: asInteger(reply[3]),
      };
    });
  }

  async renewLease(lease: LeaseHandle, leaseMs: number) {
    return this.call('renewLease', async () => {
      const reply = asArray(
        await this.run('renew-lease', lease.threadId, [fenceOf(lease), leaseTtl(leaseMs)]),
      );
      if (asInteger(reply[0]) !== 1) return { held: false, cancel: null };
      return { held: true, cancel: cancelOf(asString(reply[1])) };
    });
  }

  async releaseLease(lease: LeaseHandle) {
    await this.call('releaseLease', async () => {
      await this.run('release-lease', lease.threadId, [fenceOf(lease)]);
    });
  }

  async startRun(lease: LeaseHandle, options: StartArguments) {
    return this.call('startRun', async () => {
      const { threadId } = lease;
      const reply = asArray(
        await this.run('start-run', threadId, [
          fenceOf(lease),
          options.runId,
          JSON.stringify(threadId),
          options.contextLimit,
          ...contextMarkArgs(options.contextAfter),
        ]),
      );
      const status = asString(reply[0]);
      this.throwForStatus(status, threadId);
      if (status === 'empty') return null;
      return this.decodeClaim(threadId, lease.owner, null, asArray(reply[1]));
    });
  }

  async publishRunEvents(lease: LeaseHandle, runId: string, events: ThreadEvent[]) {
    return this.call('publishRunEvents', async () => {
      if (events.length === 0) throw new TypeError('publishRunEvents needs at least one event');
      const frames = events.map((event) => JSON.stringify(event));
      const reply = asArray(
        await this.run('publish-run-events', lease.threadId, [fenceOf(lease), runId, ...frames]),
      );
      this.throwForStatus(asString(reply[0]), lease.threadId);
      return { cancel: cancelOf(asString(reply[2])) };
    });
  }

  async endMessage(lease: LeaseHandle, runId: string, message: Message) {
    return this.call('endMessage', async () => {
      const { threadId } = lease;
      const { head, tail } = messageEndFrame(threadId, message);
      const reply = asArray(
        await this.run('end-message', threadId, [
          fenceOf(lease),
          runId,
          JSON.stringify(message),
          this.historyMaxLength,
          head,
          tail,
        ]),
      );
      this.throwForStatus(asString(reply[0]), threadId);
      const cursor = `${asString(reply[1])}.${asInteger(reply[2])}`;
      const event: ThreadEvent = { type: 'message-end', threadId, messageId: message.id, cursor, message };
      return {
        item: { cursor, message },
        envelope: { liveSeq: asInteger(reply[3]), event, frame: head + cursor + tail },
        cancel: cancelOf(asString(reply[4])),
      };
    });
  }

  async finishRun(
    lease: LeaseHandle,
    runId: string,
    end: RunEnd,
    next: Omit<StartRunOptions, 'owner'> | null,
  ): Promise<FinishResult> {
    return this.call('finishRun', async () => {
      const { threadId } = lease;
      const ends = runEndVariants(threadId, runId, end);
      const reply = asArray(
        await this.run('finish-run', threadId, [
          fenceOf(lease),
          runId,
          ...ends.map((event) => JSON.stringify(event)),
          next?.runId ?? '',
          JSON.stringify(threadId),
          next?.contextLimit ?? 0,
          leaseTtl(next?.leaseMs ?? 1),
          ...contextMarkArgs(next?.contextAfter),
        ]),
      );
      const status = asString(reply[0]);
      this.throwForStatus(status, threadId);
      const runEnd = variantEnvelope(ends, asInteger(reply[1]), asInteger(reply[2]));
      if (status === 'next') {
        return {
          runEnd,
          next: this.decodeClaim(threadId, lease.owner, null, asArray(reply[3])),
          needsRun: false,
        };
      }
      return { runEnd, next: null, needsRun: asInteger(reply[3]) > 0 };
    });
  }

  async recoverRun(lease: LeaseHandle, orphan: RunRecord, inFlight: Message | null) {
    return this.call('recoverRun', async () => {
      const { threadId } = lease;
      const messageArgs: string[] = [''];
      const interrupted: Message | null = inFlight ? { ...inFlight, status: 'interrupted' } : null;
      const cancelled: Message | null = inFlight ? { ...inFlight, status: 'cancelled' } : null;
      if (interrupted && cancelled) {
        const { head, tail } = messageEndFrame(threadId, interrupted);
        const cancelledTail = messageEndFrame(threadId, cancelled).tail;
        messageArgs.splice(
          0,
          1,
          head,
          tail,
          JSON.stringify(interrupted),
          cancelledTail,
          JSON.stringify(cancelled),
        );
      }
      const ends = runEndVariants(threadId, orphan.runId, {
        reason: 'interrupted',
        explanation: 'the instance running it stopped',
      });
      const reply = asArray(
        await this.run('recover-run', threadId, [
          fenceOf(lease),
          orphan.runId,
          this.historyMaxLength,
          ...messageArgs,
          ...ends.map((event) => JSON.stringify(event)),
        ]),
      );
      this.throwForStatus(asString(reply[0]), threadId);
      const index = asInteger(reply[2]);
      const runEnd = variantEnvelope(ends, asInteger(reply[1]), index);
      const offset = asInteger(reply[4]);
      const stored = index === 1 ? interrupted : cancelled;
      const message =
        offset > 0 && stored ? { cursor: `${asString(reply[3])}.${offset}`, message: stored } : null;
      return { runEnd, message };
    });
  }

  async requestCancel(threadId: string, reason: CancelReason) {
    return this.call('requestCancel', async () => {
      const runId = asString(await this.run('request-cancel', threadId, [reason]));
      return runId === '' ? null : runId;
    });
  }

  async runState(threadId: string): Promise<RunState> {
    return this.call('runState', async () => {
      const reply = asArray(await this.run('run-state', threadId, []));
      const leaseTtlMs = Math.max(0, asInteger(reply[1]));
      return {
        exists: asInteger(reply[0]) === 1,
        leaseHeld: leaseTtlMs > 0,
        leaseTtlMs,
        running: asInteger(reply[2]) === 1,
        queued: asInteger(reply[3]),
      };
    });
  }

  async runRecord(threadId: string) {
    return this.call('runRecord', async () => {
      const fields = pairs(asArray(await this.run('run-record', threadId, [])));
      return fields.runId === undefined ? null : decodeRunRecord(fields);
    });
  }

  // --- sweep index -----------------------------------------------------------------------------

  async markForSweep(threadId: string, afterMs: number, index: SweepIndex = 'posts') {
    await this.call('markForSweep', async () => {
      await this.scripts.index('sweep-mark', this.indexKey(index), [
        threadId,
        Math.max(0, Math.floor(afterMs)),
      ]);
    });
  }

  async claimDueThreads(limit: number, postponeMs: number) {
    return this.call('claimDueThreads', async () => {
      // One script per index: on Cluster the two keys live in different slots.
      const replies = await Promise.all(
        SWEEP_INDEXES.map(async (index) => {
          const reply = await this.scripts.index('sweep-claim', this.indexKey(index), [
            Math.max(1, Math.floor(limit)),
            Math.max(1, Math.floor(postponeMs)),
          ]);
          return { index, reply: asArray(reply) };
        }),
      );
      const threadIds = new Set<string>();
      for (const { index, reply } of replies) {
        for (let at = 0; at + 1 < reply.length; at += 2) {
          const threadId = asString(reply[at]);
          this.claimedScores.set(claimKey(index, threadId), asString(reply[at + 1]));
          threadIds.add(threadId);
        }
      }
      return [...threadIds];
    });
  }

  async forgetIdle(threadId: string) {
    const claims = SWEEP_INDEXES.flatMap((index) => {
      const key = claimKey(index, threadId);
      const score = this.claimedScores.get(key);
      this.claimedScores.delete(key);
      return score === undefined ? [] : [{ index, score }];
    });
    if (claims.length === 0) return;
    await this.call('forgetIdle', async () => {
      await Promise.all(
        claims.map(({ index, score }) =>
          this.scripts.index('sweep-forget', this.indexKey(index), [threadId, score]),
        ),
      );
    });
  }

  private indexKey(index: SweepIndex): string {
    return index === 'leases' ? this.keys.leaseIndex : this.keys.sweepIndex;
  }

  // --- live bus ------------------------------------------------------------------------------

  async subscribe(threadId: string, listener: LiveListener, onGap?: () => void) {
    if (this.closed) throw closedError('subscribe');
    try {
      return await this.subscriptions.subscribe(
        threadId,
        this.keys.thread(threadId).channel,
        listener,
        onGap,
      );
    } catch (error) {
      throw toStoreError('subscribe', error);
    }
  }

  async currentRun(threadId: string) {
    return this.call('currentRun', async () => {
      const reply = asArray(await this.run('current-run', threadId, []));
      const events: LiveEnvelope[] = [];
      for (const entry of asArray(reply[1])) {
        const [id, fields] = asArray(entry);
        const entryId = asString(id);
        const frame = pairs(asArray(fields)).frame;
        const envelope = frame === undefined ? null : envelopeOf(Number(entryId.split('-')[0]), frame);
        if (envelope) events.push(envelope);
        else this.logger.warn({ threadId, entryId }, 'skipped an unreadable live stream entry');
      }
      return { events, lastSeq: asInteger(reply[0]) };
    });
  }

  async signal(signal: ControlSignal) {
    return this.call('signal', async () => {
      await this.client.publish(this.keys.controlChannel, JSON.stringify(signal));
    });
  }

  onSignal(listener: (signal: ControlSignal) => void, onGap?: () => void) {
    return this.subscriptions.onSignal(listener, onGap);
  }

  /**
   * Test hook: behaves as when the subscriber reports that events may have been lost (a Cluster
   * resubscribe after `moved`, a lost node): every subscription is told of a gap.
   */
  simulateSubscriberLoss(reason = 'simulated'): void {
    this.subscriptions.reportPossibleLoss(reason);
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
    this.subscriptions.close();
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
      await this.subscriptions.start();
    } catch (error) {
      await this.close();
      const why = error instanceof Error ? `: ${error.message}` : '';
      throw new StoreError('unavailable', `Redis is not reachable${why}`, { cause: error });
    }
  }

  private async isClusterNode(): Promise<boolean> {
    const info = await this.call('connect', () => this.client.info('cluster'));
    return /^cluster_enabled:1\s*$/m.test(info);
  }

  private run(
    name: ThreadScriptName,
    threadId: string,
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const keys = this.keys.thread(threadId);
    return this.scripts.thread(name, threadScriptKeys(keys), keys.channel, this.publishCommand, args);
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

  private throwForStatus(status: string, threadId: string): void {
    if (status === 'not-found') throw notFound(threadId);
    if (status === 'lease-lost') {
      throw new StoreError('lease-lost', `run lease of thread ${threadId} is no longer held`);
    }
    if (status === 'conflict') throw new StoreError('conflict', `thread ${threadId} has another run record`);
  }

  /**
   * {runId, token, {id, offset, …}, position, seq, frame, context (newest first), context after,
   * epoch, oldest offset} → the claim.
   */
  private decodeClaim(threadId: string, owner: string, epoch: string | null, reply: unknown[]): RunClaim {
    const queued = asArray(reply[2]);
    const posts: RunPost[] = [];
    for (let index = 0; index + 1 < queued.length; index += 2) {
      posts.push({ messageId: asString(queued[index]), offset: asInteger(queued[index + 1]) });
    }
    const frame = asString(reply[5]);
    const runStart = envelopeOf(asInteger(reply[4]), frame);
    if (!runStart) throw new TypeError('unreadable run-start frame');
    const threadEpoch = asString(reply[8]);
    const context = this.decodeEntries(threadId, epoch ?? threadEpoch, asArray(reply[6]).reverse());
    const event = runStart.event as Extract<ThreadEvent, { type: 'run-start' }>;
    return {
      lease: { threadId, owner, token: asInteger(reply[1]) },
      runId: asString(reply[0]),
      team: event.team ?? '',
      posts,
      position: asInteger(reply[3]),
      context: context.map((item) => item.message),
      contextAfter: asInteger(reply[7]),
      epoch: threadEpoch,
      historyStart: asInteger(reply[9]),
      runStart,
    };
  }

  private decodeThread(threadId: string, fields: Record<string, string>): ThreadRecord {
    return {
      threadId,
      team: fields.team ?? '',
      metadata: parseMetadata(fields.metadata),
      epoch: fields.epoch ?? '',
      createdAt: fields.createdAt ?? '',
      ...runEndsOf(fields.lastRunEnd, fields.earlierRunEnds),
    };
  }

  /** History entries → items, skipping (and logging) entries this version cannot read. */
  private decodeEntries(threadId: string, epoch: string, entries: unknown[]): StoredItem[] {
    const items: StoredItem[] = [];
    for (const entry of entries) {
      const [id, fields] = asArray(entry);
      const entryId = asString(id);
      const message = this.decodeFields(threadId, pairs(asArray(fields)), entryId);
      if (message)
        items.push({ cursor: formatCursor(epoch, Number(entryId.slice(0, entryId.indexOf('-')))), message });
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

/** The three run-end events a script chooses from by the run's recorded cancel. */
function runEndVariants(threadId: string, runId: string, end: RunEnd) {
  return [
    runEndEvent(threadId, runId, end, null),
    runEndEvent(threadId, runId, end, 'cancelled'),
    runEndEvent(threadId, runId, end, 'superseded'),
  ] as const;
}

function variantEnvelope(variants: readonly ThreadEvent[], liveSeq: number, index: number): LiveEnvelope {
  const event = variants[index - 1];
  if (!event) throw new TypeError(`unexpected run-end variant ${index}`);
  return { liveSeq, event, frame: JSON.stringify(event) };
}

/** The message-end frame around its cursor: head .. cursor .. tail is JSON.stringify(event). */
function messageEndFrame(threadId: string, message: Message) {
  return {
    head: `{"type":"message-end","threadId":${JSON.stringify(threadId)},"messageId":${JSON.stringify(message.id)},"cursor":"`,
    tail: `","message":${JSON.stringify(message)}}`,
  };
}

function decodeRunRecord(fields: Record<string, string>): RunRecord {
  const posts: RunPost[] = [];
  for (const entry of (fields.posts ?? '').split(',')) {
    const colon = entry.lastIndexOf(':');
    if (colon > 0) posts.push({ messageId: entry.slice(0, colon), offset: Number(entry.slice(colon + 1)) });
  }
  return {
    runId: fields.runId ?? '',
    team: fields.team ?? '',
    owner: fields.owner ?? '',
    token: Number(fields.token ?? 0),
    posts,
    position: Number(fields.position ?? 0),
    cancel: cancelOf(fields.cancel ?? ''),
  };
}

function cancelOf(value: string): CancelReason | null {
  return value === 'cancelled' || value === 'superseded' ? value : null;
}

function fenceOf(lease: LeaseHandle) {
  return `${lease.owner}:${lease.token}`;
}

const SWEEP_INDEXES: readonly SweepIndex[] = ['posts', 'leases'];

/**
 * The meta fields `lastRunEnd` (a run-end frame as published) and `earlierRunEnds` (the ones before
 * it, oldest first, one per line); unreadable frames are left out.
 */
function runEndsOf(
  last: string | undefined,
  earlier: string | undefined,
): Pick<ThreadRecord, 'lastRunEnd' | 'earlierRunEnds'> {
  const lastRunEnd = last === undefined ? undefined : runEndOf(last);
  const earlierRunEnds =
    earlier === undefined ? [] : earlier.split('\n').flatMap((line) => runEndOf(line) ?? []);
  return {
    ...(lastRunEnd ? { lastRunEnd } : {}),
    ...(earlierRunEnds.length > 0 ? { earlierRunEnds } : {}),
  };
}

function runEndOf(frame: string): Extract<ThreadEvent, { type: 'run-end' }> | undefined {
  const event = parseJson(frame);
  return isRecord(event) && event.type === 'run-end' && typeof event.runId === 'string'
    ? (event as Extract<ThreadEvent, { type: 'run-end' }>)
    : undefined;
}

/** The key under which a claim's score is kept for forgetIdle. */
function claimKey(index: SweepIndex, threadId: string): string {
  return `${index}:${threadId}`;
}

function leaseTtl(ttlMs: number) {
  return Math.max(1, Math.ceil(ttlMs));
}

function backoff(maxDelayMs: number) {
  return (attempt: number) => {
    const ceiling = Math.min(maxDelayMs, 50 * 2 ** Math.min(attempt, 16));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  };
}

function waitForReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    // The last connection error says why (an unknown host, a refused port, a wrong password).
    let lastError = '';
    const onError = (error: Error) => {
      lastError = ` (last error: ${error.message})`;
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`the Redis connection ended${lastError}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis was not ready within ${timeoutMs} ms${lastError}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('end', onEnd);
    client.on('error', onError);
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

/** The script arguments of a context mark: epoch and offset ('' and 0: none). */
function contextMarkArgs(mark: ContextMark | undefined): [string, number] {
  return mark ? [mark.epoch, mark.offset] : ['', 0];
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
