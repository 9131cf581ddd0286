// The per-connection token bucket on a clock the test moves: a full bucket to start, refusals
// with the exact wait, refill at the rate up to the burst, and rate 0 for unlimited.
import { describe, expect, it } from 'vitest';
import { RequestError } from '../../src/errors.ts';
import { createRequestLimiters, RateLimiter } from '../../src/gateway/rate-limiter.ts';

function refusal(limiter: RateLimiter): RequestError {
  try {
    limiter.take();
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('the limiter let the request through');
}

describe('RateLimiter', () => {
  it('allows a burst, then refuses rate-limited (retryable) with the time until the next token', () => {
    let now = 1000;
    const limiter = new RateLimiter({ rate: 4, burst: 3 }, 'subscribes', () => now);
    for (let index = 0; index < 3; index += 1) limiter.take();
    const refused = refusal(limiter);
    expect(refused).toMatchObject({ code: 'rate-limited', retryable: true, retryAfterMs: 250 });
    expect(refused.message).toBe('too many subscribes; slow down');
    now += 100;
    expect(refusal(limiter).retryAfterMs).toBe(150);
    now += 150;
    limiter.take();
    expect(refusal(limiter).retryAfterMs).toBe(250);
  });

  it('refills at the rate, never beyond the burst', () => {
    let now = 0;
    const limiter = new RateLimiter({ rate: 10, burst: 5 }, 'posts', () => now);
    for (let index = 0; index < 5; index += 1) limiter.take();
    now += 60_000; // a long quiet spell refills to 5, not 600
    for (let index = 0; index < 5; index += 1) limiter.take();
    expect(refusal(limiter).retryAfterMs).toBe(100);
  });

  it('counts refused requests as nothing: waiting the advised time is enough', () => {
    let now = 0;
    const limiter = new RateLimiter({ rate: 2, burst: 1 }, 'posts', () => now);
    limiter.take();
    for (let index = 0; index < 50; index += 1) refusal(limiter);
    now += refusal(limiter).retryAfterMs ?? Number.NaN;
    limiter.take();
  });

  it('never limits at rate 0', () => {
    const limiter = new RateLimiter({ rate: 0, burst: 1 }, 'posts', () => 0);
    for (let index = 0; index < 10_000; index += 1) limiter.take();
  });

  it('gives each request kind its own bucket from the configuration', () => {
    const limiters = createRequestLimiters({
      postRate: 1,
      postBurst: 1,
      subscribeRate: 1,
      subscribeBurst: 2,
      createRate: 0,
      createBurst: 1,
      requestRate: 1,
      requestBurst: 3,
    });
    limiters.post.take();
    expect(refusal(limiters.post).message).toBe('too many posts; slow down');
    limiters.subscribe.take();
    limiters.subscribe.take();
    expect(refusal(limiters.subscribe).code).toBe('rate-limited');
    for (let index = 0; index < 100; index += 1) limiters.createThread.take();
    for (let index = 0; index < 3; index += 1) limiters.request.take();
    expect(refusal(limiters.request).message).toBe('too many history, cancel and delete requests; slow down');
  });
});
