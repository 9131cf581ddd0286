// The embedded store: one process, everything in memory. Holds to the same contract as RedisStore.
import { nanoid } from 'nanoid';
import type { Message, ThreadEvent } from '../protocol/frames.ts';
import { silentLogger, type Logger } from '../log.ts';
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

interface ThreadState {
  record: ThreadRecord;
  /** items[i] has offset firstOffset + i. */
  items: StoredItem[];
  firstOffset: number;
  nextOffset: number;
  byClientMessageId: Map<string, StoredItem>;
  queue: string[];
  values: Map<string, string>;
}

interface LiveState {
  listeners: Set<LiveListener>;
  currentRun: LiveEnvelope[];
  lastLiveId: string | null;
}

export interface MemoryStoreOptions {
  /** Keep at most this many messages per thread (0: keep all). */
  historyMaxLength?: number;
  logger?: Logger;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly threads = new Map<string, ThreadState>();
  private readonly live = new Map<string, LiveState>();
  private readonly leases = new Map<string, { owner: string; token: number; expiresAt: number }>();
  private readonly signalListeners = new Set<(signal: ControlSignal) => void>();
  private liveCounter = 0;
  private leaseCounter = 0;
  private readonly historyMaxLength: number;
  private readonly logger: Logger;

  constructor(options: MemoryStoreOptions = {}) {
    this.historyMaxLength = options.historyMaxLength ?? 0;
    this.logger = options.logger ?? silentLogger;
  }

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
      nextOffset: 1,
      byClientMessageId: new Map(),
      queue: [],
      values: new Map(),
    });
    return { thread: record, existing: false };
  }

  async getThread(threadId: string) {
    return this.threads.get(threadId)?.record ?? null;
  }

  async deleteThread(threadId: string) {
    const existed = this.threads.delete(threadId);
    this.leases.delete(threadId);
    const live = this.live.get(threadId);
    if (live) {
      // As in Redis, the thread's live state goes with it (listeners stay subscribed).
      live.currentRun = [];
      live.lastLiveId = null;
      if (live.listeners.size === 0) this.live.delete(threadId);
    }
    return existed;
  }

  async append(threadId: string, message: Message, options: AppendOptions = {}) {
    const thread = this.requireThread(threadId);
    if (message.clientMessageId !== undefined) {
      const previous = thread.byClientMessageId.get(message.clientMessageId);
      if (previous) return { item: previous, duplicate: true };
    }
    if (options.fence && !this.leaseHolds(options.fence)) {
      throw new StoreError('lease-lost', `run lease of thread ${threadId} is no longer held`);
    }
    const item: StoredItem = { cursor: `${thread.record.epoch}.${thread.nextOffset}`, message };
    thread.nextOffset += 1;
    thread.items.push(item);
    if (message.clientMessageId !== undefined) thread.byClientMessageId.set(message.clientMessageId, item);
    if (this.historyMaxLength > 0 && thread.items.length > this.historyMaxLength) {
      const removed = thread.items.splice(0, thread.items.length - this.historyMaxLength);
      thread.firstOffset += removed.length;
    }
    return { item, duplicate: false };
  }

  async findByClientMessageId(threadId: string, clientMessageId: string) {
    return this.threads.get(threadId)?.byClientMessageId.get(clientMessageId) ?? null;
  }

  async readAfter(threadId: string, cursor: string, limit: number) {
    const thread = this.requireThread(threadId);
    const offset = this.parseCursor(thread, cursor);
    // Unknown, foreign-epoch or trimmed-past cursors cannot be continued.
    if (offset === null || offset >= thread.nextOffset || offset < thread.firstOffset - 1) {
      return { recovered: false, items: [] };
    }
    const start = offset + 1 - thread.firstOffset;
    const items = thread.items.slice(start);
    if (items.length > limit) return { recovered: false, items: [] };
    return { recovered: true, items };
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
      if (offset === null) return { items: [], hasMore: false };
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

  async publish(threadId: string, event: ThreadEvent): Promise<LiveEnvelope> {
    return this.publishNow(threadId, event);
  }

  /** Synchronous publish: `append` + publish happen in one step (nothing can interleave). */
  private publishNow(threadId: string, event: ThreadEvent): LiveEnvelope {
    this.liveCounter += 1;
    const envelope: LiveEnvelope = { liveId: `0-${this.liveCounter}`, event, frame: JSON.stringify(event) };
    const live = this.liveState(threadId);
    live.lastLiveId = envelope.liveId;
    if (event.type === 'run-start') live.currentRun = [envelope];
    else if (event.type === 'run-end' || event.type === 'thread-deleted') live.currentRun = [];
    else if (live.currentRun.length > 0 && event.type !== 'message') live.currentRun.push(envelope);
    for (const listener of live.listeners) {
      try {
        listener(envelope);
      } catch (error) {
        this.logger.error({ err: error, threadId }, 'live listener threw');
      }
    }
    return envelope;
  }

  async subscribe(threadId: string, listener: LiveListener) {
    const live = this.liveState(threadId);
    live.listeners.add(listener);
    return async () => {
      live.listeners.delete(listener);
    };
  }

  async appendAndPublish(
    threadId: string,
    message: Message,
    kind: 'message' | 'message-end',
    options: AppendOptions = {},
  ) {
    const { item, duplicate } = await this.append(threadId, message, options);
    if (duplicate) return { item, duplicate, envelope: null };
    const event: ThreadEvent =
      kind === 'message'
        ? { type: 'message', threadId, cursor: item.cursor, message }
        : { type: 'message-end', threadId, messageId: message.id, cursor: item.cursor, message };
    return { item, duplicate, envelope: this.publishNow(threadId, event) };
  }

  async currentRun(threadId: string) {
    const live = this.live.get(threadId);
    return { events: [...(live?.currentRun ?? [])], lastLiveId: live?.lastLiveId ?? null };
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

  async acquireLease(threadId: string, owner: string, ttlMs: number) {
    const current = this.leases.get(threadId);
    if (current && current.expiresAt > Date.now()) return null;
    this.leaseCounter += 1;
    this.leases.set(threadId, { owner, token: this.leaseCounter, expiresAt: Date.now() + ttlMs });
    return { threadId, owner, token: this.leaseCounter };
  }

  async renewLease(lease: LeaseHandle, ttlMs: number) {
    if (!this.leaseHolds(lease)) return false;
    this.leases.set(lease.threadId, {
      owner: lease.owner,
      token: lease.token,
      expiresAt: Date.now() + ttlMs,
    });
    return true;
  }

  async releaseLease(lease: LeaseHandle) {
    if (this.leaseHolds(lease)) this.leases.delete(lease.threadId);
  }

  async leaseHolder(threadId: string) {
    const current = this.leases.get(threadId);
    if (!current || current.expiresAt <= Date.now()) return null;
    return { owner: current.owner, token: current.token };
  }

  async enqueue(threadId: string, messageId: string, max: number) {
    const thread = this.requireThread(threadId);
    if (thread.queue.length >= max) return { accepted: false, position: thread.queue.length };
    thread.queue.push(messageId);
    return { accepted: true, position: thread.queue.length };
  }

  async drainQueue(threadId: string) {
    const thread = this.threads.get(threadId);
    if (!thread) return [];
    return thread.queue.splice(0);
  }

  async queueLength(threadId: string) {
    return this.threads.get(threadId)?.queue.length ?? 0;
  }

  async ping() {}

  async close() {
    this.signalListeners.clear();
    this.live.clear();
  }

  private requireThread(threadId: string): ThreadState {
    const thread = this.threads.get(threadId);
    if (!thread) throw new StoreError('not-found', `thread ${threadId} not found`);
    return thread;
  }

  private liveState(threadId: string): LiveState {
    let live = this.live.get(threadId);
    if (!live) {
      live = { listeners: new Set(), currentRun: [], lastLiveId: null };
      this.live.set(threadId, live);
    }
    return live;
  }

  private leaseHolds(lease: LeaseHandle): boolean {
    const current = this.leases.get(lease.threadId);
    return current !== undefined && current.token === lease.token && current.expiresAt > Date.now();
  }

  /** The offset a cursor names in this thread's current epoch, or null when it is not ours. */
  private parseCursor(thread: ThreadState, cursor: string): number | null {
    const dot = cursor.lastIndexOf('.');
    if (dot < 0 || cursor.slice(0, dot) !== thread.record.epoch) return null;
    const offset = Number(cursor.slice(dot + 1));
    return Number.isSafeInteger(offset) && offset >= 1 ? offset : null;
  }
}
