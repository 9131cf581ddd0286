// Per-connection request rates: one token bucket per request kind (post, subscribe,
// create-thread), and one shared by the other requests that reach the store (history, cancel,
// delete-thread; over HTTP also a thread's metadata). `ping` and `unsubscribe` are answered from
// memory and take none. A bucket holds up to `burst` tokens and gains `rate` per second; a request
// takes one, or is refused `rate-limited` with the time until one is there. Rate 0: unlimited.
// Taking is synchronous, so requests pipelined on one connection are counted in arrival order.
import type { Config } from '../config.ts';
import { RequestError } from '../errors.ts';
import { ErrorCode } from '../protocol/codes.ts';

export interface RateLimit {
  /** Tokens per second (0: unlimited). */
  rate: number;
  /** The bucket's size: requests allowed at once after a quiet spell. */
  burst: number;
}

export class RateLimiter {
  private readonly limit: RateLimit;
  /** What is being limited, for the refusal's message ("posts"). */
  private readonly what: string;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;

  constructor(limit: RateLimit, what: string, now: () => number = performance.now.bind(performance)) {
    this.limit = limit;
    this.what = what;
    this.now = now;
    this.tokens = limit.burst;
    this.refilledAt = now();
  }

  /** Takes a token, or throws `rate-limited` (retryable, with `retryAfterMs`) when there is none. */
  take(): void {
    const { rate, burst } = this.limit;
    if (rate <= 0) return;
    const now = this.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) {
      const retryAfterMs = Math.max(1, Math.ceil(((1 - this.tokens) / rate) * 1000));
      throw new RequestError(ErrorCode.rateLimited, `too many ${this.what}; slow down`, { retryAfterMs });
    }
    this.tokens -= 1;
  }
}

/** The buckets of one connection. */
export interface RequestLimiters {
  post: RateLimiter;
  subscribe: RateLimiter;
  createThread: RateLimiter;
  /** history, cancel, delete-thread (and, over HTTP, reading a thread). */
  request: RateLimiter;
}

export function createRequestLimiters(
  config: Pick<
    Config,
    | 'postRate'
    | 'postBurst'
    | 'subscribeRate'
    | 'subscribeBurst'
    | 'createRate'
    | 'createBurst'
    | 'requestRate'
    | 'requestBurst'
  >,
): RequestLimiters {
  return {
    post: new RateLimiter({ rate: config.postRate, burst: config.postBurst }, 'posts'),
    subscribe: new RateLimiter({ rate: config.subscribeRate, burst: config.subscribeBurst }, 'subscribes'),
    createThread: new RateLimiter({ rate: config.createRate, burst: config.createBurst }, 'threads created'),
    request: new RateLimiter(
      { rate: config.requestRate, burst: config.requestBurst },
      'history, cancel and delete requests',
    ),
  };
}
