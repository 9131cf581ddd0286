// Publishes a message's deltas off the model's path, merging text that arrives faster than one
// frame per window. The first delta after a quiet window goes out at once (no added latency at
// ordinary model speeds); deltas that follow within `windowMs` of the last publish wait for the
// window to end and leave as one frame. Publishes are chained, not awaited per token, so a Redis
// round trip never paces the model; `drain()` waits for all of them (before message-end).
import type { DeltaContent } from '../protocol/frames.ts';

/** At most this many publishes in flight before `push` makes the producer wait. */
const MAX_IN_FLIGHT = 64;

type Mergeable = 'text' | 'reasoning' | 'refusal';

export class DeltaCoalescer {
  private readonly publish: (delta: DeltaContent) => Promise<unknown>;
  private readonly windowMs: () => number;
  private pending: { kind: Mergeable; delta: DeltaContent } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private lastPublishAt = Number.NEGATIVE_INFINITY;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private failure: { error: unknown } | null = null;

  /** `windowMs`: fixed, or read for every delta (a load-adaptive window, delta-window.ts). */
  constructor(publish: (delta: DeltaContent) => Promise<unknown>, windowMs: number | (() => number)) {
    this.publish = publish;
    this.windowMs = typeof windowMs === 'number' ? () => windowMs : windowMs;
  }

  /** Queues a delta; resolves at once unless too many publishes are in flight. */
  async push(delta: DeltaContent): Promise<void> {
    this.throwIfFailed();
    const kind = mergeableKind(delta);
    if (this.pending && kind !== null && kind === this.pending.kind) {
      this.pending.delta[kind] = (this.pending.delta[kind] ?? '') + (delta[kind] ?? '');
      return;
    }
    this.flushPending();
    const now = performance.now();
    const wait = this.lastPublishAt + this.windowMs() - now;
    if (kind !== null && wait > 0) {
      this.pending = { kind, delta: { [kind]: delta[kind] } };
      this.timer = setTimeout(() => this.flushPending(), wait);
    } else {
      this.emit(delta);
    }
    if (this.inFlight >= MAX_IN_FLIGHT) await this.chain;
    this.throwIfFailed();
  }

  /**
   * Queues another write in the same chain, ahead of the deltas that follow (the message's start):
   * the producer goes on at once, and its failure surfaces like a delta's.
   */
  lead(write: () => Promise<unknown>): void {
    this.inFlight += 1;
    this.chain = this.chain.then(async () => {
      try {
        if (!this.failure) await write();
      } catch (error) {
        this.failure ??= { error };
      } finally {
        this.inFlight -= 1;
      }
    });
  }

  /** Publishes what waits and resolves when every publish is done; throws the first failure. */
  async drain(): Promise<void> {
    this.flushPending();
    await this.chain;
    this.throwIfFailed();
  }

  /** Drops what waits (the run is over). */
  discard(): void {
    clearTimeout(this.timer);
    this.pending = null;
  }

  private flushPending(): void {
    clearTimeout(this.timer);
    const pending = this.pending;
    this.pending = null;
    if (pending) this.emit(pending.delta);
  }

  private emit(delta: DeltaContent): void {
    this.lastPublishAt = performance.now();
    this.lead(() => this.publish(delta));
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** The kind of a delta that carries only appendable text, or null. */
function mergeableKind(delta: DeltaContent): Mergeable | null {
  const keys = Object.keys(delta).filter((key) => delta[key as keyof DeltaContent] !== undefined);
  if (keys.length !== 1) return null;
  const key = keys[0];
  return key === 'text' || key === 'reasoning' || key === 'refusal' ? key : null;
}
