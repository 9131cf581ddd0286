// The slow-consumer bound's stretch for a frame bigger than the bound (WebSocket and SSE share it).
import { describe, expect, it } from 'vitest';
import { oversizeAllowanceFor } from '../../src/gateway/send-bound.ts';

const BOUND = 16_384;
/** Whether a frame goes, as Connection.tooSlowFor and SseResponse.write decide it. */
const goes = (unsent: number, bytes: number, allowance = 0) => {
  const stretched = oversizeAllowanceFor(unsent, bytes, BOUND, allowance);
  return { goes: unsent + bytes <= BOUND + stretched, allowance: stretched };
};

describe('the slow-consumer bound', () => {
  it('lets a frame over the bound go while what is unsent is within the bound, and stretches by it', () => {
    expect(goes(0, 28_000)).toEqual({ goes: true, allowance: 28_000 });
    // Behind a small frame not yet sent (an SSE stream's `subscribed`): it used to be refused.
    expect(goes(200, 28_000)).toEqual({ goes: true, allowance: 28_000 });
    // While it drains, small frames go within bound + its size; an empty queue ends the stretch.
    expect(goes(20_000, 1000, 28_000)).toEqual({ goes: true, allowance: 28_000 });
    expect(goes(0, 1000, 28_000)).toEqual({ goes: true, allowance: 0 });
  });

  it('refuses what a reader that does not read would pile up', () => {
    expect(goes(BOUND - 100, 200).goes).toBe(false);
    // Over the bound already: a big frame does not get a stretch of its own.
    expect(goes(BOUND + 1, 28_000).goes).toBe(false);
    expect(goes(40_000, 5000, 28_000).goes).toBe(false);
  });
});
