// The embedded store: one process, everything in memory. Holds to the same contract as RedisStore.
// Each transition is one synchronous section (no await inside), so nothing can interleave with it,
// exactly as a Lua script runs on Redis.
import { nanoid } from 'nanoid';
import { RECENT_RUN_ENDS, type Message, type ThreadEvent } from '../protocol/frames.ts';
import { silentLogger, type Logger } from '../log.ts';
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
  type Store,
  type StoredItem,
  type SweepIndex,
  type ThreadRecord,
} from './store.ts';

interface ThreadState {
  record: ThreadRecord;
  /** items[i] has offset firstOffset + i. */
  items: StoredItem[];
  firstOffset: number;
  /** The offset of the newest message (0 when none). */
  offset: number;
  byClientMessageId: Map<string, { item: StoredItem; offset: number }>;
  /** Queued posts, oldest (lowest offset) first. */
  queue: RunPost[];
  /** The history offset the latest run started at: posts at or before it are never queued again. */
  position: number;
  run: RunRecord | null;
  values: Map<string, string>;
}

interface LiveState {
  listeners: Set<LiveListener>;
  currentRun: LiveEnvelope[];
  lastSeq: number;
}

interface Lease {
  owner: string;
  token: number;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  /** Keep at most this many messages per thread (0: keep all). */
  historyMaxLength?: number | undefined;
  logger?: Logger | undefined;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly threads = new Map<string, ThreadState>();
  private readonly live = new Map<string, LiveState>();
  private readonly leases = new Map<string, Lease>();
  /** By index, threadId → when it is due for a sweep check (ms), and a mark counter for forgetIdle. */
  private readonly sweepIndexes = new Map<SweepIndex, Map<string, { dueAt: number; mark: number }>>([
    ['posts', new Map()],
    ['leases', new Map()],
  ]);
  /** The mark each index had when a thread was claimed from it, by `index:threadId`. */
  private readonly claimedMarks = new Map<string, number>();
  private readonly signalListeners = new Set<(signal: ControlSignal) => void>();
  private leaseCounter = 0;
  private markCounter = 0;
  private readonly historyMaxLength: number;
  private readonly logger: Logger;

  constructor(options: MemoryStoreOptions = {}) {
    this.historyMaxLength = options.historyMaxLength ?? 0;
    this.logger = options.logger ?? silentLogger;
  }

  // --- threads and history -------------------------------------------------------------------

  async createThread(input: { threadId: string; team: string; metadata?: Record<string, string> }) {
    const existing = this.threads.get(input.threadId);
    if (existing) return { thread: existing.record, existing: true };
    const record: ThreadRecord = {
      threadId: input.threadId,
      team: input.team,
      metadata: { ...input.metadata },
      epoch: nanoid(10),
      createdAt: new Date().toISOString(),
    };
    this.threads.set(input.threadId, {
      record,
      items: [],
      firstOffset: 1,
      offset: 0,
      byClientMessageId: new Map(),
      queue: [],
      position: 0,
      run: null,
      values: new Map(),
    });
    return { thread: record, existing: false };
  }

  async getThread(threadId: string) {
    return this.threads.get(threadId)?.record ?? null;
  }

  async deleteThread(threadId: string) {
    if (!this.threads.has(threadId)) return false;
    this.publishNow(threadId, { type: 'thread-deleted', threadId });
    this.threads.delete(threadId);
    this.leases.delete(threadId);
    const live = this.live.get(threadId);
    if (live) {
      // As in Redis, the thread's live state goes with it (listeners stay subscribed).
      live.currentRun = [];
      if (live.listeners.size === 0) this.live.delete(threadId);
    }
    return true;
  }

  async announceLostThread(threadId: string) {
    if (this.threads.has(threadId)) return false;
    this.publishNow(threadId, { type: 'thread-deleted', threadId });
    return true;
  }

  async findByClientMessageId(threadId: string, clientMessageId: string) {
    return this.threads.get(threadId)?.byClientMessageId.get(clientMessageId)?.item ?? null;
  }

  async readAfter(threadId: string, cursor: string, limit: number) {
    const thread = this.requireThread(threadId);
    const offset = this.parseCursor(thread, cursor);
    // Unknown, foreign-epoch, future or trimmed-past cursors cannot be continued.
    if (offset === null || offset > thread.offset || offset < thread.firstOffset - 1) {
      return { recovered: false, items: [], missed: 0, newest: null };
    }
    const start = offset + 1 - thread.firstOffset;
    return {
      recovered: true,
      items: thread.items.slice(start, start + Math.max(0, limit)),
      missed: thread.offset - offset,
      newest: formatCursor(thread.record.epoch, thread.offset),
    };
  }

  async readLatest(threadId: string, limit: number) {
    const thread = this.requireThread(threadId);
    const items = thread.items.slice(Math.max(0, thread.items.length - limit));
    return { items, truncated: items.length < thread.items.length };
  }

  async readBefore(threadId: string, before: string | undefined, limit: number) {
    const thread = this.requireThread(threadId);
    let end = thread.items.length;
    if (before !== undefined) {
      const offset = this.parseCursor(thread, before);
      // Unknown, foreign-epoch or future cursors (never given out): an empty page, as on Redis.
      if (offset === null || offset > thread.offset) return { items: [], hasMore: false };
      end = Math.max(0, Math.min(thread.items.length, offset - thread.firstOffset));
    }
    const start = Math.max(0, end - limit);
    return { items: thread.items.slice(start, end), hasMore: start > 0 };
  }

  async getThreadValue(threadId: string, name: string) {
    return this.threads.get(threadId)?.values.get(name) ?? null;
  }

  async setThreadValue(threadId: string, name: string, value: string) {
    this.threads.get(threadId)?.values.set(name, value);
  }

  async deleteThreadValue(threadId: string, name: string) {
    this.threads.get(threadId)?.values.delete(name);
  }

  async importMessages(threadId: string, messages: readonly Message[]) {
    const thread = this.requireThread(threadId);
    return messages.map((message) => {
      const item = this.appendNow(thread, message);
      this.publishNow(threadId, { type: 'message', threadId, cursor: item.cursor, message });
      thread.position = thread.offset;
      return item;
    });
  }

  // --- posts and runs ------------------------------------------------------------------------

  async post(input: PostInput): Promise<PostResult> {
    const { threadId, message } = input;
    const thread = this.requireThread(threadId);
    const lease = this.liveLease(threadId);
    if (message.clientMessageId !== undefined) {
      const previous = thread.byClientMessageId.get(message.clientMessageId);
      if (previous) {
        // Stored after the last run started: it waits for a run; queue it again if it was lost.
        const waiting = previous.offset > thread.position;
        if (waiting && !thread.queue.some((post) => post.messageId === previous.item.message.id)) {
          this.queueInOrder(thread, { messageId: previous.item.message.id, offset: previous.offset });
        }
        return { status: 'duplicate', item: previous.item, queued: waiting, needsRun: waiting && !lease };
      }
    }
    if (thread.record.team !== input.team) return { status: 'team-changed', team: thread.record.team };
    const runActive = lease !== null || thread.run !== null;
    if (runActive && input.multitask === 'reject') return { status: 'busy', reason: 'run-active' };
    if (thread.queue.length >= (runActive ? input.queueMax : Math.max(1, input.queueMax))) {
      return { status: 'busy', reason: 'queue-full' };
    }
    const item = this.appendNow(thread, message);
    const envelope = this.publishNow(threadId, { type: 'message', threadId, cursor: item.cursor, message });
    this.queueInOrder(thread, { messageId: message.id, offset: thread.offset });
    let supersededRunId: string | null = null;
    if (runActive && input.multitask === 'interrupt' && thread.run) {
      thread.run.cancel ??= 'superseded';
      supersededRunId = thread.run.runId;
    }
    let run: RunClaim | null = null;
    if (!runActive && input.start) {
      const token = this.grantLease(threadId, input.start.owner, input.start.leaseMs);
      run = this.startNow(thread, { threadId, owner: input.start.owner, token }, input.start);
    }
    return {
      status: 'stored',
      item,
      envelope,
      queued: runActive,
      supersededRunId,
      run,
      needsRun: run === null && lease === null,
    };
  }

  async acquireLease(threadId: string, owner: string, leaseMs: number): Promise<AcquireResult | null> {
    const thread = this.requireThread(threadId);
    if (this.liveLease(threadId)) return null;
    const token = this.grantLease(threadId, owner, leaseMs);
    return {
      lease: { threadId, owner, token },
      orphan: thread.run ? { ...thread.run, posts: [...thread.run.posts] } : null,
      queued: thread.queue.length,
    };
  }

  async renewLease(lease: LeaseHandle, leaseMs: number) {
    const thread = this.threads.get(lease.threadId);
    if (!thread || !this.leaseHolds(lease)) return { held: false, cancel: null };
    this.leases.set(lease.threadId, {
      owner: lease.owner,
      token: lease.token,
      expiresAt: Date.now() + leaseMs,
    });
    return { held: true, cancel: thread.run?.token === lease.token ? thread.run.cancel : null };
  }

  async releaseLease(lease: LeaseHandle) {
    if (this.leaseHolds(lease)) this.leases.delete(lease.threadId);
  }

  async startRun(lease: LeaseHandle, options: Omit<StartRunOptions, 'owner' | 'leaseMs'>) {
    const thread = this.fencedThread(lease);
    if (thread.run) {
      // A retry of this very start (its answer was lost) gets the claim again.
      const runStart = this.live.get(lease.threadId)?.currentRun[0];
      if (thread.run.runId !== options.runId || thread.run.token !== lease.token || !runStart) {
        throw new StoreError('conflict', `thread ${lease.threadId} has a run record already`);
      }
      return {
        lease,
        runId: thread.run.runId,
        team: thread.run.team,
        posts: [...thread.run.posts],
        position: thread.run.position,
        ...runContext(thread, thread.run.position, options),
        runStart,
      };
    }
    if (thread.queue.length === 0) return null;
    return this.startNow(thread, lease, options);
  }

  async publishRunEvents(lease: LeaseHandle, runId: string, events: ThreadEvent[]) {
    const run = this.fencedRun(lease, runId);
    for (const event of events) this.publishNow(lease.threadId, event);
    return { cancel: run.cancel };
  }

  async endMessage(lease: LeaseHandle, runId: string, message: Message) {
    const run = this.fencedRun(lease, runId);
    const thread = this.requireThread(lease.threadId);
    const item = this.appendNow(thread, message);
    const envelope = this.publishNow(lease.threadId, {
      type: 'message-end',
      threadId: lease.threadId,
      messageId: message.id,
      cursor: item.cursor,
      message,
    });
    return { item, envelope, cancel: run.cancel };
  }

  async finishRun(
    lease: LeaseHandle,
    runId: string,
    end: RunEnd,
    next: Omit<StartRunOptions, 'owner'> | null,
  ): Promise<FinishResult> {
    const run = this.fencedRun(lease, runId);
    const thread = this.requireThread(lease.threadId);
    const runEnd = this.publishNow(lease.threadId, runEndEvent(lease.threadId, runId, end, run.cancel));
    thread.run = null;
    if (next && thread.queue.length > 0) {
      this.leases.set(lease.threadId, {
        owner: lease.owner,
        token: lease.token,
        expiresAt: Date.now() + next.leaseMs,
      });
      return { runEnd, next: this.startNow(thread, lease, next), needsRun: false };
    }
    this.leases.delete(lease.threadId);
    return { runEnd, next: null, needsRun: thread.queue.length > 0 };
  }

  async recoverRun(lease: LeaseHandle, orphan: RunRecord, inFlight: Message | null) {
    const thread = this.fencedThread(lease);
    if (thread.run?.runId !== orphan.runId) {
      throw new StoreError('conflict', `run ${orphan.runId} is not the thread's run record`);
    }
    const { cancel } = thread.run;
    let message: StoredItem | null = null;
    if (inFlight) {
      const stored: Message = { ...inFlight, status: cancel ? 'cancelled' : 'interrupted' };
      message = this.appendNow(thread, stored);
      this.publishNow(lease.threadId, {
        type: 'message-end',
        threadId: lease.threadId,
        messageId: stored.id,
        cursor: message.cursor,
        message: stored,
      });
    }
    const end: RunEnd = { reason: 'interrupted', explanation: 'the instance running it stopped' };
    const runEnd = this.publishNow(lease.threadId, runEndEvent(lease.threadId, orphan.runId, end, cancel));
    thread.run = null;
    return { runEnd, message };
  }

  async requestCancel(threadId: string, reason: CancelReason) {
    const run = this.threads.get(threadId)?.run;
    if (!run) return null;
    run.cancel ??= reason;
    return run.runId;
  }

  async runState(threadId: string): Promise<RunState> {
    const thread = this.threads.get(threadId);
    const lease = this.liveLease(threadId);
    return {
      exists: thread !== undefined,
      leaseHeld: lease !== null,
      leaseTtlMs: lease ? Math.max(0, lease.expiresAt - Date.now()) : 0,
      running: thread?.run != null,
      queued: thread?.queue.length ?? 0,
    };
  }

  async runRecord(threadId: string) {
    const run = this.threads.get(threadId)?.run;
    return run ? { ...run, posts: [...run.posts] } : null;
  }

  // --- sweep index -----------------------------------------------------------------------------

  async markForSweep(threadId: string, afterMs: number, index: SweepIndex = 'posts') {
    this.markCounter += 1;
    this.sweepIndexes.get(index)!.set(threadId, { dueAt: Date.now() + afterMs, mark: this.markCounter });
  }

  async claimDueThreads(limit: number, postponeMs: number) {
    const now = Date.now();
    const claimed = new Set<string>();
    for (const [index, entries] of this.sweepIndexes) {
      const due = [...entries.entries()]
        .filter(([, entry]) => entry.dueAt <= now)
        .sort(([, a], [, b]) => a.dueAt - b.dueAt)
        .slice(0, limit);
      for (const [threadId, entry] of due) {
        entry.dueAt = now + postponeMs;
        this.claimedMarks.set(`${index}:${threadId}`, entry.mark);
        claimed.add(threadId);
      }
    }
    return [...claimed];
  }

  async forgetIdle(threadId: string) {
    for (const [index, entries] of this.sweepIndexes) {
      const entry = entries.get(threadId);
      const claimed = this.claimedMarks.get(`${index}:${threadId}`);
      this.claimedMarks.delete(`${index}:${threadId}`);
      if (entry && entry.mark === claimed) entries.delete(threadId);
    }
  }

  // --- live bus ------------------------------------------------------------------------------

  async subscribe(threadId: string, listener: LiveListener) {
    const live = this.liveState(threadId);
    live.listeners.add(listener);
    return {
      lastSeq: live.lastSeq,
      unsubscribe: async () => {
        live.listeners.delete(listener);
      },
    };
  }

  async currentRun(threadId: string) {
    const live = this.live.get(threadId);
    return { events: [...(live?.currentRun ?? [])], lastSeq: live?.lastSeq ?? 0 };
  }

  async signal(signal: ControlSignal) {
    for (const listener of this.signalListeners) {
      try {
        listener(signal);
      } catch (error) {
        this.logger.error({ err: error, signal }, 'signal listener threw');
      }
    }
  }

  onSignal(listener: (signal: ControlSignal) => void) {
    this.signalListeners.add(listener);
    return () => void this.signalListeners.delete(listener);
  }

  async ping() {}

  async close() {
    this.signalListeners.clear();
    this.live.clear();
  }

  // --- internals -----------------------------------------------------------------------------

  private appendNow(thread: ThreadState, message: Message): StoredItem {
    thread.offset += 1;
    const item: StoredItem = { cursor: formatCursor(thread.record.epoch, thread.offset), message };
    thread.items.push(item);
    if (message.clientMessageId !== undefined) {
      thread.byClientMessageId.set(message.clientMessageId, { item, offset: thread.offset });
    }
    if (this.historyMaxLength > 0 && thread.items.length > this.historyMaxLength) {
      const removed = thread.items.splice(0, thread.items.length - this.historyMaxLength);
      thread.firstOffset += removed.length;
    }
    return item;
  }

  /** Publishes synchronously: the caller's write and this publish are one step. */
  private publishNow(threadId: string, event: ThreadEvent): LiveEnvelope {
    const live = this.liveState(threadId);
    live.lastSeq += 1;
    const envelope: LiveEnvelope = { liveSeq: live.lastSeq, event, frame: JSON.stringify(event) };
    if (event.type === 'run-start') live.currentRun = [envelope];
    else if (event.type === 'run-end' || event.type === 'thread-deleted') live.currentRun = [];
    else if (live.currentRun.length > 0 && event.type !== 'message') live.currentRun.push(envelope);
    const thread = event.type === 'run-end' ? this.threads.get(threadId) : undefined;
    if (thread && event.type === 'run-end') thread.record = withRunEnd(thread.record, event);
    for (const listener of live.listeners) {
      try {
        listener(envelope);
      } catch (error) {
        this.logger.error({ err: error, threadId }, 'live listener threw');
      }
    }
    return envelope;
  }

  private startNow(
    thread: ThreadState,
    lease: LeaseHandle,
    options: Omit<StartRunOptions, 'owner' | 'leaseMs'>,
  ): RunClaim {
    const { threadId } = thread.record;
    const posts = thread.queue.splice(0);
    thread.position = thread.offset;
    thread.run = {
      runId: options.runId,
      team: thread.record.team,
      owner: lease.owner,
      token: lease.token,
      posts,
      position: thread.position,
      cancel: null,
    };
    const runStart = this.publishNow(threadId, {
      type: 'run-start',
      threadId,
      runId: options.runId,
      team: thread.record.team,
      posts: posts.map((post) => post.messageId),
    });
    return {
      lease,
      runId: options.runId,
      team: thread.record.team,
      posts: [...posts],
      position: thread.position,
      ...runContext(thread, thread.position, options),
      runStart,
    };
  }

  private queueInOrder(thread: ThreadState, post: RunPost) {
    const index = thread.queue.findIndex((queued) => queued.offset > post.offset);
    if (index < 0) thread.queue.push(post);
    else thread.queue.splice(index, 0, post);
  }

  private grantLease(threadId: string, owner: string, leaseMs: number): number {
    this.leaseCounter += 1;
    this.leases.set(threadId, { owner, token: this.leaseCounter, expiresAt: Date.now() + leaseMs });
    return this.leaseCounter;
  }

  private liveLease(threadId: string): Lease | null {
    const lease = this.leases.get(threadId);
    return lease && lease.expiresAt > Date.now() ? lease : null;
  }

  private leaseHolds(lease: LeaseHandle): boolean {
    return this.liveLease(lease.threadId)?.token === lease.token;
  }

  /** The thread, when `lease` still holds: else `not-found` or `lease-lost`. */
  private fencedThread(lease: LeaseHandle): ThreadState {
    const thread = this.requireThread(lease.threadId);
    if (!this.leaseHolds(lease)) {
      throw new StoreError('lease-lost', `run lease of thread ${lease.threadId} is no longer held`);
    }
    return thread;
  }

  private fencedRun(lease: LeaseHandle, runId: string): RunRecord {
    const run = this.fencedThread(lease).run;
    if (run?.runId !== runId || run.token !== lease.token) {
      throw new StoreError('lease-lost', `run ${runId} is no longer the thread's run`);
    }
    return run;
  }

  private requireThread(threadId: string): ThreadState {
    const thread = this.threads.get(threadId);
    if (!thread) throw new StoreError('not-found', `thread ${threadId} not found`);
    return thread;
  }

  private liveState(threadId: string): LiveState {
    let live = this.live.get(threadId);
    if (!live) {
      live = { listeners: new Set(), currentRun: [], lastSeq: 0 };
      this.live.set(threadId, live);
    }
    return live;
  }

  /** The offset a cursor names in this thread's current epoch, or null when it is not ours. */
  private parseCursor(thread: ThreadState, cursor: string): number | null {
    const position = parseCursor(cursor);
    return position && position.epoch === thread.record.epoch ? position.offset : null;
  }
}

/**
 * A claim's context at `position`: the newest `contextLimit` messages up to it, or only those after
 * the caller's mark when it is of the thread's epoch (as run_context in the Lua prelude).
 */
function runContext(
  thread: ThreadState,
  position: number,
  options: Pick<StartRunOptions, 'contextLimit' | 'contextAfter'>,
): Pick<RunClaim, 'context' | 'contextAfter' | 'epoch' | 'historyStart'> {
  const { epoch } = thread.record;
  const end = Math.max(0, Math.min(thread.items.length, position - thread.firstOffset + 1));
  const mark = options.contextAfter;
  const after = mark && mark.offset > 0 && mark.offset <= position && mark.epoch === epoch ? mark.offset : 0;
  const start = Math.max(0, end - options.contextLimit, after > 0 ? after - thread.firstOffset + 1 : 0);
  const context = options.contextLimit > 0 ? thread.items.slice(start, end) : [];
  const historyStart = thread.items.length > 0 ? thread.firstOffset : position + 1;
  return { context: context.map((item) => item.message), contextAfter: after, epoch, historyStart };
}

/** The record with `event` as its last run-end, the one before it moved to the earlier ones. */
function withRunEnd(record: ThreadRecord, event: Extract<ThreadEvent, { type: 'run-end' }>): ThreadRecord {
  const { lastRunEnd, earlierRunEnds = [] } = record;
  const earlier = lastRunEnd ? [...earlierRunEnds, lastRunEnd].slice(-(RECENT_RUN_ENDS - 1)) : earlierRunEnds;
  return { ...record, lastRunEnd: event, ...(earlier.length > 0 ? { earlierRunEnds: earlier } : {}) };
}
