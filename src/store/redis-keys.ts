// Every Redis key and channel name Chorus uses, built in one place (docs/storage.md explains each).
// A thread's keys and its event channel carry the thread id as a hash tag `{threadId}`, so they
// share one Cluster slot: the Lua scripts that touch several of them stay Cluster-safe, and the
// sharded pub/sub channel lives on the shard that runs those scripts. Instance-wide channels have
// no tag.

/** The keys of one thread, in the order the Lua scripts declare them. */
export interface ThreadKeys {
  /** Hash: team, metadata, epoch, createdAt, offset (last history offset). Exists iff the thread does. */
  meta: string;
  /** Stream of finished messages, entry id `<offset>-1`. */
  history: string;
  /** Hash clientMessageId → offset (idempotent appends). */
  idempotency: string;
  /** Sorted set clientMessageId → time of the append (ms), to expire `idempotency` fields. */
  idempotencyTimes: string;
  /** String `owner:token` with PX: the run lease. */
  lease: string;
  /** Counter: the last fencing token handed out for this thread. */
  leaseToken: string;
  /** Sorted set of queued user message ids, scored by their history offset. */
  queue: string;
  /** Hash: the current run's record (runId, team, owner, token, fence, posts, position, cancel). */
  run: string;
  /** Stream of the current run's events, entry ids `<liveSeq>-1`. */
  live: string;
  /** Counter: the thread's last live sequence number (starts at the server clock in µs). */
  liveSeq: string;
  /** Hash name → value: small values kept with the thread (getThreadValue / setThreadValue). */
  values: string;
  /** Pub/sub channel (sharded on Cluster) carrying every live event of the thread. */
  channel: string;
}

export interface RedisKeys {
  readonly prefix: string;
  thread(threadId: string): ThreadKeys;
  /** Pub/sub channel for instance-wide control signals (classic pub/sub, no hash tag). */
  readonly controlChannel: string;
  /** Sorted set thread id → when it is due for a failover check (ms): the cluster-wide sweep index. */
  readonly sweepIndex: string;
  /** Sorted set thread id → when its lease holder's lease runs out (ms): the sweep's lease index. */
  readonly leaseIndex: string;
}

export const DEFAULT_REDIS_PREFIX = 'chorus';

export function redisKeys(prefix: string = DEFAULT_REDIS_PREFIX): RedisKeys {
  if (prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new Error(`invalid Redis key prefix ${JSON.stringify(prefix)}: must be non-empty, without { or }`);
  }
  return {
    prefix,
    controlChannel: `${prefix}:control`,
    sweepIndex: `${prefix}:sweep`,
    leaseIndex: `${prefix}:sweep-leases`,
    thread(threadId: string): ThreadKeys {
      // Every key of the thread starts with the same `…{threadId}` (the prefix has no braces), so
      // Redis hashes the same tag for all of them whatever the id holds; only an empty tag (`{}`)
      // would make Redis hash whole key names, hence the check.
      if (threadId.length === 0) throw new Error('empty thread id');
      const base = `${prefix}:thread:{${threadId}}`;
      return {
        meta: `${base}:meta`,
        history: `${base}:history`,
        idempotency: `${base}:idempotency`,
        idempotencyTimes: `${base}:idempotency-times`,
        lease: `${base}:lease`,
        leaseToken: `${base}:lease-token`,
        queue: `${base}:queue`,
        run: `${base}:run`,
        live: `${base}:live`,
        liveSeq: `${base}:live-seq`,
        values: `${base}:values`,
        channel: `${base}:events`,
      };
    },
  };
}

/**
 * Every key of a thread (not its channel), in the order every thread script declares them
 * (src/store/lua/prelude.lua): what `deleteThread` removes.
 */
export function threadScriptKeys(keys: ThreadKeys): string[] {
  return [
    keys.meta,
    keys.lease,
    keys.run,
    keys.live,
    keys.liveSeq,
    keys.history,
    keys.idempotency,
    keys.idempotencyTimes,
    keys.leaseToken,
    keys.queue,
    keys.values,
  ];
}
