// Local fan-out: one store subscription per thread per instance, shared by every local viewer.
// An event arrives once (already serialized by the store); its WebSocket frame is built once
// (live-frame.ts) and handed to each viewer as is.
// The hub also knows how far delivery has come per thread (`lastSeq`), so that a joiner can wait
// until every event up to what it read from the store has reached it.
import type { LiveSubscription, Store } from '../store/store.ts';
import type { Logger } from '../log.ts';
import { LiveFrame } from './live-frame.ts';

/** A local receiver of a thread's live events (a connection's subscription). */
export interface ThreadViewer {
  /** `frame` is made once per event and shared by every viewer: send its bytes as they are. */
  deliver(threadId: string, frame: LiveFrame): void;
  /** Live continuity for the thread was lost: the viewer must rebuild (resume by cursor). */
  gap(threadId: string): void;
}

interface Waiter {
  seq: number;
  resolve: (reached: boolean) => void;
  timer: NodeJS.Timeout;
}

interface ThreadEntry {
  viewers: Set<ThreadViewer>;
  /** Resolves when the store subscription is active. */
  ready: Promise<LiveSubscription>;
  /** The thread's live seq delivered so far (the subscription's baseline, then each event's). */
  lastSeq: number;
  /** The store subscription is active (lastSeq is the thread's, not a placeholder). */
  live: boolean;
  waiters: Set<Waiter>;
}

export class Hub {
  private readonly threads = new Map<string, ThreadEntry>();
  private readonly store: Store;
  private readonly logger: Logger;

  constructor(options: { store: Store; logger: Logger }) {
    this.store = options.store;
    this.logger = options.logger;
  }

  get threadCount(): number {
    return this.threads.size;
  }

  /** Threads with local viewers (the failover sweep watches these). */
  threadIds(): IterableIterator<string> {
    return this.threads.keys();
  }

  /** Adds a viewer; resolves once the thread's live delivery is active on this instance. */
  async add(threadId: string, viewer: ThreadViewer): Promise<void> {
    let entry = this.threads.get(threadId);
    if (!entry) {
      const created: ThreadEntry = {
        viewers: new Set<ThreadViewer>(),
        ready: Promise.resolve({ lastSeq: 0, unsubscribe: async () => {} }),
        lastSeq: 0,
        live: false,
        waiters: new Set(),
      };
      created.ready = this.store.subscribe(
        threadId,
        (envelope) => {
          const frame = new LiveFrame(envelope);
          if (envelope.liveSeq > created.lastSeq) created.lastSeq = envelope.liveSeq;
          for (const each of created.viewers) each.deliver(threadId, frame);
          this.settleWaiters(created);
        },
        () => {
          for (const each of [...created.viewers]) each.gap(threadId);
        },
      );
      entry = created;
      this.threads.set(threadId, entry);
      created.ready.then(
        (subscription) => {
          if (subscription.lastSeq > created.lastSeq) created.lastSeq = subscription.lastSeq;
          created.live = true;
          this.settleWaiters(created);
        },
        () => {
          if (this.threads.get(threadId) === created) this.threads.delete(threadId);
        },
      );
    }
    entry.viewers.add(viewer);
    try {
      await entry.ready;
    } catch (error) {
      entry.viewers.delete(viewer);
      throw error;
    }
  }

  /** The newest live seq delivered of the thread, while it has viewers here; else undefined. */
  liveSeqOf(threadId: string): number | undefined {
    const entry = this.threads.get(threadId);
    return entry?.live ? entry.lastSeq : undefined;
  }

  remove(threadId: string, viewer: ThreadViewer): void {
    const entry = this.threads.get(threadId);
    if (!entry || !entry.viewers.delete(viewer) || entry.viewers.size > 0) return;
    this.threads.delete(threadId);
    for (const waiter of entry.waiters) this.endWaiter(entry, waiter, false);
    entry.ready
      .then((subscription) => subscription.unsubscribe())
      .catch((error: unknown) =>
        this.logger.warn({ err: error, threadId }, 'unsubscribe from the store failed'),
      );
  }

  /**
   * Resolves true once every event of the thread up to `seq` has been delivered to the viewers
   * (at once when it has), false after `timeoutMs` or when the thread has no viewers left.
   */
  reached(threadId: string, seq: number, timeoutMs: number): Promise<boolean> {
    const entry = this.threads.get(threadId);
    if (!entry) return Promise.resolve(false);
    if (entry.lastSeq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        seq,
        resolve,
        timer: setTimeout(() => this.endWaiter(entry, waiter, false), timeoutMs),
      };
      entry.waiters.add(waiter);
    });
  }

  private settleWaiters(entry: ThreadEntry) {
    for (const waiter of entry.waiters) if (entry.lastSeq >= waiter.seq) this.endWaiter(entry, waiter, true);
  }

  private endWaiter(entry: ThreadEntry, waiter: Waiter, reached: boolean) {
    clearTimeout(waiter.timer);
    entry.waiters.delete(waiter);
    waiter.resolve(reached);
  }
}
