// Local fan-out: one store subscription per thread per instance, shared by every local viewer.
// An event arrives once (already serialized by the store) and is handed to each viewer as is.
import type { LiveEnvelope, Store } from '../store/store.ts';
import type { Logger } from '../log.ts';

/** A local receiver of a thread's live events (a connection's subscription). */
export interface ThreadViewer {
  /** `data` is the envelope's frame encoded once, shared by every viewer: send it as is. */
  deliver(threadId: string, envelope: LiveEnvelope, data: Buffer): void;
  /** Live continuity for the thread was lost: the viewer must rebuild (resume by cursor). */
  gap(threadId: string): void;
}

interface ThreadEntry {
  viewers: Set<ThreadViewer>;
  /** Resolves when the store subscription is active; the unsubscribe function. */
  ready: Promise<() => Promise<void>>;
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
      const viewers = new Set<ThreadViewer>();
      const ready = this.store.subscribe(
        threadId,
        (envelope) => {
          const data = Buffer.from(envelope.frame);
          for (const each of viewers) each.deliver(threadId, envelope, data);
        },
        () => {
          for (const each of [...viewers]) each.gap(threadId);
        },
      );
      entry = { viewers, ready };
      this.threads.set(threadId, entry);
      ready.catch(() => {
        if (this.threads.get(threadId) === entry) this.threads.delete(threadId);
      });
    }
    entry.viewers.add(viewer);
    try {
      await entry.ready;
    } catch (error) {
      entry.viewers.delete(viewer);
      throw error;
    }
  }

  remove(threadId: string, viewer: ThreadViewer): void {
    const entry = this.threads.get(threadId);
    if (!entry || !entry.viewers.delete(viewer) || entry.viewers.size > 0) return;
    this.threads.delete(threadId);
    entry.ready
      .then((unsubscribe) => unsubscribe())
      .catch((error: unknown) =>
        this.logger.warn({ err: error, threadId }, 'unsubscribe from the store failed'),
      );
  }
}
