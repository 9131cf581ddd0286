// A circuit breaker per model provider endpoint. After `failureThreshold` consecutive failures it
// opens for `cooldownMs`: calls then fail fast with ModelError `unavailable` instead of piling
// up on a provider that is down. After the cool-down one trial call goes through (half-open); its
// success closes the circuit, its failure opens it again.
import { ModelError } from '../errors.ts';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number | undefined;
  /** How long an open circuit refuses calls. @default 30000 */
  cooldownMs?: number | undefined;
  /** Clock, for tests. @default Date.now */
  now?: (() => number) | undefined;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly name: string;
  private readonly failureThreshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private failures = 0;
  private openedAt: number | undefined;
  private trialInFlight = false;

  constructor(name: string, options: CircuitBreakerOptions = {}) {
    this.name = name;
    this.failureThreshold = options.failureThreshold ?? 5;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.openedAt === undefined) return 'closed';
    return this.now() - this.openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /**
   * Throws ModelError `unavailable` while the circuit is open (or while the half-open trial call
   * is still running); otherwise lets the call through.
   */
  enter(): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return;
    }
    const remaining = Math.max(0, (this.openedAt ?? 0) + this.cooldownMs - this.now());
    throw new ModelError('unavailable', 'the model provider is unavailable; try again later', true, {
      retryAfterMs: remaining,
    });
  }

  recordSuccess(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.trialInFlight = false;
  }

  recordFailure(): void {
    this.failures += 1;
    if (this.trialInFlight || this.failures >= this.failureThreshold) this.openedAt = this.now();
    this.trialInFlight = false;
  }

  /** A call that ended without telling anything about the provider (aborted, client error). */
  recordNeutral(): void {
    this.trialInFlight = false;
  }
}

/** One breaker per key (provider + base URL), shared by every model client of that endpoint. */
export class CircuitBreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly options: CircuitBreakerOptions;

  constructor(options: CircuitBreakerOptions = {}) {
    this.options = options;
  }

  get(key: string): CircuitBreaker {
    let breaker = this.breakers.get(key);
    if (!breaker) {
      breaker = new CircuitBreaker(key, this.options);
      this.breakers.set(key, breaker);
    }
    return breaker;
  }

  /** Every breaker and its state, for metrics and health output. */
  states(): { key: string; state: CircuitState }[] {
    return [...this.breakers].map(([key, breaker]) => ({ key, state: breaker.state }));
  }
}
