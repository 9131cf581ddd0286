// The load-adaptive merge window: fixed at its base while the event loop keeps time, larger (never
// beyond its maximum) after the loop ran late, and back at the base once it keeps time again.
import { describe, expect, it } from 'vitest';
import { adaptiveDeltaWindow, fixedDeltaWindow } from '../../src/runs/delta-window.ts';

/** Keeps the event loop busy for `ms` (what a saturated instance does to its timers). */
function block(ms: number) {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/** Lets the loop's own timers run once (the delay histogram samples on a 10 ms timer). */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 25));
}

describe('delta window', () => {
  it('grows with the event loop delay up to its maximum, then returns to its base', async () => {
    const window = adaptiveDeltaWindow(8, 40, { sampleMs: 0 });
    try {
      await turn();
      window.sample();
      expect(window.current()).toBeLessThan(20);
      block(300);
      for (let round = 0; round < 3; round += 1) await turn();
      window.sample();
      expect(window.current()).toBeGreaterThan(8);
      expect(window.current()).toBeLessThanOrEqual(40);
      for (let round = 0; round < 3; round += 1) await turn();
      window.sample();
      expect(window.current()).toBeLessThan(20);
    } finally {
      window.close();
    }
  });

  it('stays fixed when the maximum is not above the base', () => {
    const window = adaptiveDeltaWindow(8, 8);
    block(50);
    window.sample();
    expect(window.current()).toBe(8);
    expect(fixedDeltaWindow(0).current()).toBe(0);
  });
});
