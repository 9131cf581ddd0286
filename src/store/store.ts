// The storage port: everything Chorus keeps or shares between instances goes through it.
// Two implementations hold to one contract suite (test/contract/store.contract.ts):
// MemoryStore (embedded default, one process) and RedisStore (many instances).
//
// Four concerns, one port so that an implementation can make them atomic together:
// - history: the canonical, append-only log of finished messages per thread, with cursors;
// - live bus: ordered delivery of thread events to every instance, plus the current run's events
//   so that a joiner can rebuild the in-flight message (the snapshot);
// - run lease: one run per thread cluster-wide, with a fencing token;
// - run queue: posts waiting for the next run.
import type { Message, ThreadEvent } from '../protocol/frames.ts';

export interface ThreadRecord {
  threadId: string;
  team: string;
  metadata: Record<string, string>;
  /** Changes whenever the thread's history is (re)created: a cursor from another epoch is unrecoverable. */
  epoch: string;
  createdAt: string;
}

export interface StoredItem {
  cursor: string;
  message: Message;
}

/** Proof of holding a thread's run lease; history writes made under it are fenced by `token`. */
export interface LeaseHandle {
  threadId: string;
  owner: string;
  token: number;
}

/** A thread event as delivered by the live bus: ordered per thread by `liveId`. */
export interface LiveEnvelope {
  /** `<ms>-<n>`, strictly increasing per thread (compare with `compareLiveIds`). */
  liveId: string;
  event: ThreadEvent;
  /** The event serialized as a wire frame, once, shared by every subscriber. */
  frame: string;
}

/** Instance-wide control signals (cancel a run, a thread was deleted), delivered to every instance. */
export type ControlSignal =
  | { type: 'cancel'; threadId: string; runId: string; reason: 'cancelled' | 'superseded' }
  | { type: 'delete'; threadId: string };

export type LiveListener = (envelope: LiveEnvelope) => void;

export { StoreError, StoreErrorCode } from '../errors.ts';

export interface AppendOptions {
  /** Reject the write with `lease-lost` unless this lease is still the thread's current one. */
  fence?: LeaseHandle;
}

export interface Store {
  readonly kind: 'memory' | 'redis';

  // --- threads and history -----------------------------------------------------------------
  /** Creates the thread, or returns the existing one untouched (`existing: true`). */
  createThread(input: { threadId: string; team: string; metadata?: Record<string, string> }): Promise<{
    thread: ThreadRecord;
    existing: boolean;
  }>;
  getThread(threadId: string): Promise<ThreadRecord | null>;
  /** Deletes history, metadata, queue and idempotency keys; true when the thread existed. */
  deleteThread(threadId: string): Promise<boolean>;
  /**
   * Appends a finished message. With `message.clientMessageId` set the append is idempotent for
   * that id: a repeat returns the first stored item and `duplicate: true`. Throws StoreError
   * `not-found` for an unknown thread, `lease-lost` when the fence no longer holds.
   */
  append(
    threadId: string,
    message: Message,
    options?: AppendOptions,
  ): Promise<{ item: StoredItem; duplicate: boolean }>;
  /**
   * The stored item an idempotent append with this clientMessageId made (within the idempotency
   * window), or null. Lets a retry be answered `duplicate` before any limit is checked.
   */
  findByClientMessageId(threadId: string, clientMessageId: string): Promise<StoredItem | null>;
  /**
   * Every message after `cursor`, oldest first, at most `limit`. `recovered: false` when continuity
   * cannot be guaranteed (unknown or foreign-epoch cursor, history trimmed past it, more than
   * `limit` messages missed); then `items` is empty and the caller falls back to `readLatest`.
   */
  readAfter(
    threadId: string,
    cursor: string,
    limit: number,
  ): Promise<{ recovered: boolean; items: StoredItem[] }>;
  /** The newest `limit` messages, oldest first; `truncated` when older ones exist. */
  readLatest(threadId: string, limit: number): Promise<{ items: StoredItem[]; truncated: boolean }>;
  /** The newest `limit` messages older than `before` (all when absent), oldest first. */
  readBefore(
    threadId: string,
    before: string | undefined,
    limit: number,
  ): Promise<{ items: StoredItem[]; hasMore: boolean }>;

  /**
   * Small named values kept with a thread and deleted with it (for example a model provider's
   * remote conversation state). Setting a value on a thread that does not exist is a no-op.
   */
  getThreadValue(threadId: string, name: string): Promise<string | null>;
  setThreadValue(threadId: string, name: string, value: string): Promise<void>;
  deleteThreadValue(threadId: string, name: string): Promise<void>;

  // --- live bus ------------------------------------------------------------------------------
  /** Publishes an event to every instance's subscribers of the thread, in order; returns its envelope. */
  publish(threadId: string, event: ThreadEvent): Promise<LiveEnvelope>;
  /**
   * Starts delivery of the thread's events to `listener`; delivery is active when this resolves.
   * `onGap` is called when the store can no longer guarantee that every event reached the
   * listener (for example Redis pub/sub reconnected); the subscriber must then rebuild (the
   * gateway closes the affected sockets with a reconnect code, and clients resume by cursor).
   */
  subscribe(threadId: string, listener: LiveListener, onGap?: () => void): Promise<() => Promise<void>>;
  /**
   * Appends a finished message and publishes its event (`message` for a user message, `message-end`
   * for an agent message, with the new cursor) as ONE atomic step, so the live order of message
   * events equals their history order on every instance. Same errors and idempotency as `append`;
   * a duplicate is not published again (`envelope` is null then).
   */
  appendAndPublish(
    threadId: string,
    message: Message,
    kind: 'message' | 'message-end',
    options?: AppendOptions,
  ): Promise<{ item: StoredItem; duplicate: boolean; envelope: LiveEnvelope | null }>;
  /**
   * The current run's events so far (from its `run-start`, in order; `message` events excluded),
   * empty when no run is active, and the newest liveId published on the thread (null when none).
   * A joiner folds `events` into the in-flight snapshot and skips buffered non-message events up to
   * `lastLiveId`.
   */
  currentRun(threadId: string): Promise<{ events: LiveEnvelope[]; lastLiveId: string | null }>;
  /** Sends a control signal to every instance (this one included). */
  signal(signal: ControlSignal): Promise<void>;
  onSignal(listener: (signal: ControlSignal) => void): () => void;

  // --- run lease -----------------------------------------------------------------------------
  acquireLease(threadId: string, owner: string, ttlMs: number): Promise<LeaseHandle | null>;
  renewLease(lease: LeaseHandle, ttlMs: number): Promise<boolean>;
  releaseLease(lease: LeaseHandle): Promise<void>;
  /** The current holder, or null when the lease is free (expired leases are free). */
  leaseHolder(threadId: string): Promise<{ owner: string; token: number } | null>;

  // --- run queue -----------------------------------------------------------------------------
  /** Queues a user message id for the next run; false when `max` are already waiting. */
  enqueue(threadId: string, messageId: string, max: number): Promise<{ accepted: boolean; position: number }>;
  /** Takes every queued message id, oldest first. */
  drainQueue(threadId: string): Promise<string[]>;
  queueLength(threadId: string): Promise<number>;

  // --- lifecycle -----------------------------------------------------------------------------
  /** Resolves when the store can serve (Redis reachable); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Orders two live ids (`<ms>-<n>`); negative when a < b. */
export function compareLiveIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs !== bMs ? aMs - bMs : aSeq - bSeq;
}
