// A fault-injection wrapper for any Store: a test names a step (a Store method) and what happens
// there — the call fails before it reaches the store, or it reaches the store and its answer is
// lost (as when a reply times out after the script ran), or it pauses before or after the store
// until the test releases it. Faults fire for calls that match an optional predicate, once unless
// told otherwise, so that each window of a transition can be opened exactly where it is named.
import { StoreError, type Store } from '../../src/store/store.ts';

type StoreMethod = {
  [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? K : never;
}[keyof Store];

export type FaultKind =
  /** The call fails with `unavailable` before the store sees it (nothing is written). */
  | 'fail-before'
  /** The call is done by the store, then fails with `unavailable` (the answer was lost). */
  | 'fail-after'
  /** The call waits for `release()` before it reaches the store. */
  | 'pause-before'
  /** The store does the call; its answer waits for `release()`. */
  | 'pause-after';

export interface FaultOptions<M extends StoreMethod> {
  /** Only calls with these arguments (by default every call). */
  when?: (...args: Parameters<Store[M]>) => boolean;
  /** How many matching calls the fault takes (default 1). */
  times?: number;
}

export interface Fault {
  /** Resolves when the fault fired for the first time (a paused call is waiting). */
  readonly reached: Promise<void>;
  /** How many calls the fault took. */
  readonly hits: number;
  /** Lets every paused call go on. */
  release(): void;
}

interface Armed {
  method: StoreMethod;
  kind: FaultKind;
  when: ((...args: never[]) => boolean) | undefined;
  remaining: number;
  hits: number;
  reached: () => void;
  gate: Promise<void>;
  open: () => void;
}

export class FaultyStore {
  readonly store: Store;
  /** Every call that reached the wrapper, in order (method names). */
  readonly calls: StoreMethod[] = [];
  private readonly armed: Armed[] = [];

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        const method = property as StoreMethod;
        return (...args: never[]) =>
          this.call(method, () => (value as (...a: never[]) => unknown).apply(target, args), args);
      },
    });
  }

  inject<M extends StoreMethod>(method: M, kind: FaultKind, options: FaultOptions<M> = {}): Fault {
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const armed: Armed = {
      method,
      kind,
      when: options.when as ((...args: never[]) => boolean) | undefined,
      remaining: options.times ?? 1,
      hits: 0,
      reached,
      gate,
      open,
    };
    this.armed.push(armed);
    return {
      reached: reachedPromise,
      get hits() {
        return armed.hits;
      },
      release: () => {
        armed.remaining = 0;
        armed.open();
      },
    };
  }

  private call(method: StoreMethod, invoke: () => unknown, args: never[]): unknown {
    this.calls.push(method);
    const armed = this.armed.find(
      (candidate) =>
        candidate.method === method && candidate.remaining > 0 && (candidate.when?.(...args) ?? true),
    );
    if (!armed) return invoke();
    armed.remaining -= 1;
    armed.hits += 1;
    armed.reached();
    const lost = () => new StoreError('unavailable', `injected fault: the answer to ${method} was lost`);
    switch (armed.kind) {
      case 'fail-before':
        return Promise.reject(
          new StoreError('unavailable', `injected fault: ${method} did not reach the store`),
        );
      case 'fail-after':
        return Promise.resolve(invoke()).then(
          () => Promise.reject(lost()),
          () => Promise.reject(lost()),
        );
      case 'pause-before':
        return armed.gate.then(() => invoke());
      case 'pause-after':
        return Promise.resolve(invoke()).then(async (value) => {
          await armed.gate;
          return value;
        });
    }
  }
}
