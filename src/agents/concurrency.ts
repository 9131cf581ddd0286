// A counting semaphore that caps concurrent model streams per instance. Waiters are served in
// arrival order (FIFO) and leave the queue when their signal aborts; `waiting` and `active` are
// exposed for metrics and the viewer page.

/** Gives a permit back; calling it more than once is harmless. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class Semaphore {
  readonly limit: number;
  private activeCount = 0;
  private readonly queue: Waiter[] = [];

  /** @param limit permits; `Infinity` makes `acquire` never wait. */
  constructor(limit: number) {
    if (!(limit >= 1)) throw new Error(`semaphore limit must be at least 1, got ${limit}`);
    this.limit = limit;
  }

  /** Permits in use. */
  get active(): number {
    return this.activeCount;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with a release function once a permit is free. Rejects with `signal.reason` when the
   * signal aborts first (the waiter then leaves the queue and never holds a permit).
   */
  acquire(signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.activeCount < this.limit && this.queue.length === 0) {
      this.activeCount += 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          reject(signal.reason as Error);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.activeCount -= 1;
      this.dispatch();
    };
  }

  private dispatch(): void {
    while (this.activeCount < this.limit && this.queue.length > 0) {
      const waiter = this.queue.shift()!;
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      this.activeCount += 1;
      waiter.grant(this.releaser());
    }
  }
}
