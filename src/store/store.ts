// The storage port: everything Chorus keeps or shares between instances goes through it.
// Two implementations hold to one contract suite (test/contract/store.contract.ts):
// MemoryStore (embedded default, one process) and RedisStore (many instances).
//
// Every state transition of a thread is ONE method here, and each implementation makes it atomic
// (one Lua script on Redis, one synchronous section in memory): a post is stored, broadcast and
// queued together; a run starts by taking the queue into its own record and publishing
// `run-start` together; every event a run publishes is fenced by its lease token; a run ends by
// publishing `run-end` and either releasing the lease or starting the next run together.
// docs/storage.md lists the transitions, what each leaves durable, and who repairs a crash.
import type { Message, ThreadEvent } from '../protocol/frames.ts';

export { StoreError, StoreErrorCode } from '../errors.ts';

export interface ThreadRecord {
  threadId: string;
  team: string;
  metadata: Record<string, string>;
  /** Changes whenever the thread's history is (re)created: a cursor from another epoch is unrecoverable. */
  epoch: string;
  createdAt: string;
  /** The thread's most recent `run-end` event (absent before its first run ends). */
  lastRunEnd?: Extract<ThreadEvent, { type: 'run-end' }> | undefined;
  /** The run-ends before `lastRunEnd`, oldest first: with it, the last RECENT_RUN_ENDS (absent when none). */
  earlierRunEnds?: Extract<ThreadEvent, { type: 'run-end' }>[] | undefined;
}

/** `subscribed.runEnd`: the run-end of `runId` when it is among the thread's recent ones. */
export function runEndField(
  thread: ThreadRecord,
  runId: string | undefined,
): { runEnd?: Extract<ThreadEvent, { type: 'run-end' }> } {
  if (runId === undefined) return {};
  const runEnd =
    thread.lastRunEnd?.runId === runId
      ? thread.lastRunEnd
      : thread.earlierRunEnds?.find((event) => event.runId === runId);
  return runEnd ? { runEnd } : {};
}

export interface StoredItem {
  cursor: string;
  message: Message;
}

/** Proof of holding a thread's run lease; every write of a run is fenced by `token`. */
export interface LeaseHandle {
  threadId: string;
  owner: string;
  token: number;
}

/** A thread event as delivered by the live bus. */
export interface LiveEnvelope {
  /**
   * The thread's live sequence number: assigned by the store when the event is published, exactly
   * one more than the previous event's of the same thread. A receiver that sees a hole lost events.
   */
  liveSeq: number;
  event: ThreadEvent;
  /** The event serialized as a wire frame, once, shared by every subscriber. */
  frame: string;
}

const TYPE_PREFIX = '{"type":"';

/**
 * The event's type, read off its frame without parsing it (every frame is the JSON of an event whose
 * first field is `type`); a receiving instance never needs to parse a delta it only forwards.
 */
export function envelopeType(envelope: LiveEnvelope): ThreadEvent['type'] {
  const { frame } = envelope;
  if (frame.startsWith(TYPE_PREFIX)) {
    const end = frame.indexOf('"', TYPE_PREFIX.length);
    if (end > 0) return frame.slice(TYPE_PREFIX.length, end) as ThreadEvent['type'];
  }
  return envelope.event.type;
}

/** Instance-wide control signals, the fast path of state the run holder also reads from the store. */
export type ControlSignal =
  | { type: 'cancel'; threadId: string; runId: string; reason: CancelReason }
  | { type: 'delete'; threadId: string }
  /** How late an instance's event loop runs (delta-window.ts): sent only while it is late. */
  | { type: 'load'; instanceId: string; delayMs: number };

export type CancelReason = 'cancelled' | 'superseded';

export type LiveListener = (envelope: LiveEnvelope) => void;

/** An active delivery of a thread's events. */
export interface LiveSubscription {
  /**
   * The thread's live seq when delivery became active: every later event reaches the listener
   * (or `onGap` is called); events up to it were published before.
   */
  lastSeq: number;
  unsubscribe(): Promise<void>;
}

/** A user post a run answers: its message id and its history offset. */
export interface RunPost {
  messageId: string;
  offset: number;
}

/** A run that has started: its record is durable and its `run-start` published. */
export interface RunClaim {
  lease: LeaseHandle;
  runId: string;
  team: string;
  /** The posts this run answers (taken from the queue), oldest first. */
  posts: RunPost[];
  /** The history offset the run started at: the agents see history up to here, never beyond. */
  position: number;
  /**
   * The agents' context, oldest first: the newest stored messages up to `position` (at most the
   * `contextLimit` asked for) — or, when `contextAfter` > 0, only those after that offset (the
   * caller said it holds the ones before: `StartRunOptions.contextAfter`).
   */
  context: Message[];
  /** 0: `context` is the whole window; else the offset `context` follows. */
  contextAfter: number;
  /** The thread's epoch (its history's identity: a re-created thread has another). */
  epoch: string;
  /**
   * The oldest offset history still holds (CHORUS_HISTORY_MAXLEN trims a prefix): messages below
   * it are no longer part of any run's context, also not of a context the caller holds.
   */
  historyStart: number;
  runStart: LiveEnvelope;
}

/** What the thread's run record says, for the lease holder that finds a run without its end. */
export interface RunRecord {
  runId: string;
  team: string;
  owner: string;
  token: number;
  posts: RunPost[];
  position: number;
  /** A cancel that reached the store (durable), or null. */
  cancel: CancelReason | null;
}

/** How a team treats a post that arrives while a run is active. */
export type MultitaskPolicy = 'queue' | 'reject' | 'interrupt';

export interface PostInput {
  threadId: string;
  /** The stored message: a user message with its `clientMessageId`. */
  message: Message;
  /** The team the caller believes the thread has; a different one answers `team-changed`. */
  team: string;
  multitask: MultitaskPolicy;
  /** The most posts that may wait for a run (`busy` beyond). */
  queueMax: number;
  /** When set and no run is active, the same step starts a run that answers the queue. */
  start?: StartRunOptions | undefined;
}

export interface StartRunOptions {
  owner: string;
  leaseMs: number;
  runId: string;
  /** How many stored messages the claim carries as the agents' context. */
  contextLimit: number;
  /**
   * The caller holds the thread's messages up to `offset` of `epoch` (from an earlier claim): the
   * claim then carries only later ones, when the thread's epoch is still `epoch`.
   */
  contextAfter?: ContextMark | undefined;
}

export interface ContextMark {
  epoch: string;
  offset: number;
}

export type PostResult =
  | {
      status: 'stored';
      item: StoredItem;
      envelope: LiveEnvelope;
      /** The post waits behind an active run (or an unrecovered one). */
      queued: boolean;
      /** With the `interrupt` policy: the run this post cancelled (its durable cancel is set). */
      supersededRunId: string | null;
      /** The run this step started (`start` given, no run was active), or null. */
      run: RunClaim | null;
      /** Posts waiting without a live lease holder: somebody must acquire the lease and run them. */
      needsRun: boolean;
    }
  | {
      status: 'duplicate';
      item: StoredItem;
      /** True when the post was stored after the last run started and is (now again) queued. */
      queued: boolean;
      /** Queued without a live lease holder: somebody must acquire the lease and run it. */
      needsRun: boolean;
    }
  /** Refused before anything was written: the queue is full or the team rejects posts during runs. */
  | { status: 'busy'; reason: 'queue-full' | 'run-active' }
  /** The thread's team is not the one given: nothing was written (refresh the thread and retry). */
  | { status: 'team-changed'; team: string };

export interface AcquireResult {
  lease: LeaseHandle;
  /** A run record without its `run-end` (its holder stopped): recover it before anything else. */
  orphan: RunRecord | null;
  /** Posts waiting in the queue. */
  queued: number;
}

/** The state of a thread's run, as the failover sweep inspects it. */
export interface RunState {
  exists: boolean;
  /** The lease is held (by anyone) and has not expired; `leaseTtlMs` is its remaining time. */
  leaseHeld: boolean;
  leaseTtlMs: number;
  /** A run record exists (with or without a live holder). */
  running: boolean;
  queued: number;
}

export interface RunEnd {
  reason: Extract<ThreadEvent, { type: 'run-end' }>['reason'];
  detail?: string | undefined;
  explanation?: string | undefined;
}

export interface FinishResult {
  /** The published `run-end` (its reason is `cancelled` when a cancel was recorded for the run). */
  runEnd: LiveEnvelope;
  /** The next run, started in the same step because posts were waiting (`next` given); else null. */
  next: RunClaim | null;
  /** Posts still wait and the lease was released (no `next` given): somebody must run them. */
  needsRun: boolean;
}

export interface RunWriteResult {
  /** A cancel recorded for the run (the holder must stop), or null. */
  cancel: CancelReason | null;
}

/**
 * The sweep's two indexes: `posts` (each post marks its thread with a grace that outlasts its own
 * write, so that a sweep never finds the thread idle before the post landed), and `leases` (each
 * lease holder marks when its lease runs out, on every take and renewal, so that a holder that
 * dies is found about a lease time later, viewers or not). Both are only hints: the sweep reads
 * the thread's state before doing anything.
 */
export type SweepIndex = 'posts' | 'leases';

export interface Store {
  readonly kind: 'memory' | 'redis';

  // --- threads and history -----------------------------------------------------------------
  /** Creates the thread, or returns the existing one untouched (`existing: true`). */
  createThread(input: { threadId: string; team: string; metadata?: Record<string, string> }): Promise<{
    thread: ThreadRecord;
    existing: boolean;
  }>;
  getThread(threadId: string): Promise<ThreadRecord | null>;
  /**
   * Deletes the thread in one step: publishes `thread-deleted` to its subscribers and removes
   * history, metadata, queue, run record, lease and idempotency keys. True when it existed.
   */
  deleteThread(threadId: string): Promise<boolean>;
  /**
   * Publishes `thread-deleted` for a thread the store no longer has (lost without a delete: a
   * FLUSHALL, a restart without persistence); does nothing and answers false when it exists.
   */
  announceLostThread(threadId: string): Promise<boolean>;
  /**
   * The stored item an idempotent post with this clientMessageId made (within the idempotency
   * window), or null.
   */
  findByClientMessageId(threadId: string, clientMessageId: string): Promise<StoredItem | null>;
  /**
   * Messages after `cursor`, oldest first, at most `limit`; how many there are in all (`missed`)
   * and the cursor of the newest (`newest`, the given cursor when none was missed).
   * `recovered: false` when continuity cannot be guaranteed (unknown or foreign-epoch cursor, a
   * cursor the thread never reached, history trimmed past it); then `items` is empty, `missed` 0
   * and `newest` null. Page on with the cursor of the last item.
   */
  readAfter(
    threadId: string,
    cursor: string,
    limit: number,
  ): Promise<{ recovered: boolean; items: StoredItem[]; missed: number; newest: string | null }>;
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

  /**
   * Appends finished messages outside any run, in one step, publishing each as a `message` event
   * (an import of existing history; tests and benchmarks seed threads with it). They never start a
   * run and count as answered. Throws `not-found` for an unknown thread.
   */
  importMessages(threadId: string, messages: readonly Message[]): Promise<StoredItem[]>;

  // --- posts and runs: one atomic step each ----------------------------------------------------
  /**
   * Stores a user post, publishes its `message` event and queues it, in one step (bounded by
   * `queueMax`; with `start` and no active run, the same step starts the run that answers it).
   * A retry with the same clientMessageId is `duplicate`; if no run has taken the post yet it is
   * queued again. Throws StoreError `not-found` for an unknown thread.
   */
  post(input: PostInput): Promise<PostResult>;
  /**
   * Takes the thread's run lease when it is free; null when another holder has it. The answer says
   * whether a run record without its end is there (recover it first) and how many posts wait.
   */
  acquireLease(threadId: string, owner: string, leaseMs: number): Promise<AcquireResult | null>;
  /** Extends the lease; `held: false` when it was lost (the run must stop writing at once). */
  renewLease(lease: LeaseHandle, leaseMs: number): Promise<{ held: boolean; cancel: CancelReason | null }>;
  /** Releases the lease if it is still this one. */
  releaseLease(lease: LeaseHandle): Promise<void>;
  /**
   * Starts a run for the queued posts under `lease`: moves them into the run's record and
   * publishes `run-start`. Null when nothing is queued. Throws `lease-lost`, `not-found`, or
   * `conflict` when another run record is there (recover it first). Idempotent: when the record is
   * already this run (`runId`) under this lease — a retry after its answer was lost, or a post or
   * finishRun that started it and whose answer was lost — the claim is answered again.
   */
  startRun(lease: LeaseHandle, options: Omit<StartRunOptions, 'owner' | 'leaseMs'>): Promise<RunClaim | null>;
  /**
   * Publishes events of the running run (`message-start`, `message-delta`), in order, fenced by
   * the lease and the run id. Throws `lease-lost` / `not-found`.
   */
  publishRunEvents(lease: LeaseHandle, runId: string, events: ThreadEvent[]): Promise<RunWriteResult>;
  /**
   * Stores a finished agent message and publishes its `message-end`, in one fenced step.
   */
  endMessage(
    lease: LeaseHandle,
    runId: string,
    message: Message,
  ): Promise<RunWriteResult & { item: StoredItem; envelope: LiveEnvelope }>;
  /**
   * Ends the run: publishes `run-end`, deletes the run record and clears the live run, fenced.
   * With `next` and posts waiting, the same step starts the next run under the same lease;
   * otherwise the lease is released.
   */
  finishRun(
    lease: LeaseHandle,
    runId: string,
    end: RunEnd,
    next: Omit<StartRunOptions, 'owner'> | null,
  ): Promise<FinishResult>;
  /**
   * Ends a run whose holder stopped (found by `acquireLease`): stores its in-flight message with
   * the text so far (when given), publishes `run-end` (`interrupted`, or `cancelled` when a cancel
   * was recorded) and deletes the record, in one fenced step. The lease stays held.
   */
  recoverRun(
    lease: LeaseHandle,
    orphan: RunRecord,
    inFlight: Message | null,
  ): Promise<{ runEnd: LiveEnvelope; message: StoredItem | null }>;
  /**
   * Records a cancel for the thread's active run (durable: its holder reads it on its next write or
   * renewal) and answers that run's id, or null when no run is active (or it already ended).
   */
  requestCancel(threadId: string, reason: CancelReason): Promise<string | null>;
  /** The thread's run state (for the failover sweep). */
  runState(threadId: string): Promise<RunState>;
  /** The thread's run record, or null. */
  runRecord(threadId: string): Promise<RunRecord | null>;

  // --- the cluster-wide index of threads that may need a run --------------------------------
  /**
   * Marks the thread as possibly needing a run: due for a check after `afterMs`, in one of the two
   * indexes (`SweepIndex`). A mark in one index leaves the other's as it is.
   */
  markForSweep(threadId: string, afterMs: number, index?: SweepIndex): Promise<void>;
  /**
   * Takes up to `limit` threads of each index that are due for a check and postpones them by
   * `postponeMs` (so that one instance checks each); a thread that checked idle is forgotten with
   * `forgetIdle`.
   */
  claimDueThreads(limit: number, postponeMs: number): Promise<string[]>;
  /** Forgets a thread that was found idle, in each index unless it was marked there again since it was claimed. */
  forgetIdle(threadId: string): Promise<void>;

  // --- live bus ------------------------------------------------------------------------------
  /**
   * Starts delivery of the thread's events to `listener`; delivery is active when this resolves.
   * `onGap` is called when the store can no longer guarantee that every event reached the
   * listener (a hole in the live sequence, a resubscribe after a reconnect or a slot move); the
   * subscriber must then rebuild (the gateway closes the affected sockets with 4011, and clients
   * resume by cursor).
   */
  subscribe(threadId: string, listener: LiveListener, onGap?: () => void): Promise<LiveSubscription>;
  /**
   * The current run's events so far (from its `run-start`, in order; `message` events excluded),
   * empty when no run is active, and the thread's newest live sequence number (0 when none). A
   * joiner folds `events` into the in-flight snapshot and judges buffered events by `lastSeq`.
   */
  currentRun(threadId: string): Promise<{ events: LiveEnvelope[]; lastSeq: number }>;
  /** Sends a control signal to every instance (this one included): the fast path only. */
  signal(signal: ControlSignal): Promise<void>;
  /**
   * `onGap` is called when signals may have been lost (the subscriber reconnected): listeners
   * must re-read the durable state the signals stand for.
   */
  onSignal(listener: (signal: ControlSignal) => void, onGap?: () => void): () => void;

  // --- lifecycle -----------------------------------------------------------------------------
  /** Resolves when the store can serve (Redis reachable); rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
