// The load-adaptive merge window: larger (never beyond its maximum) after the event loop ran late,
// at its base when nothing was late since the last reading, fixed when its maximum is its base.
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
  it('grows with the event loop delay up to its maximum, and reads each delay once', async () => {
    const window = adaptiveDeltaWindow(8, 40, { sampleMs: 0 });
    try {
      block(300);
      for (let round = 0; round < 3; round += 1) await turn();
      window.sample();
      // A 300 ms stall over a few 10 ms probes: far more than (40 - 8) / 2 ms late on average.
      expect(window.current()).toBe(40);
      // Nothing measured since the last reading: the window shrinks towards its base, gradually
      // (a fifth of the way per reading), and reaches it.
      window.sample();
      expect(window.current()).toBeCloseTo(40 - 32 * 0.2, 5);
      window.sample();
      expect(window.current()).toBeLessThan(40 - 32 * 0.2);
      for (let reading = 0; reading < 30; reading += 1) window.sample();
      expect(window.current()).toBe(8);
    } finally {
      window.close();
    }
  });

  it("follows a peer's reported delay while the report is fresh, and reports its own", () => {
    let clock = 0;
    const own: number[] = [];
    const window = adaptiveDeltaWindow(8, 40, {
      sampleMs: 0,
      now: () => clock,
      onSample: (delayMs) => own.push(delayMs),
    });
    try {
      window.observe('instance-b', 7);
      window.sample();
      // 8 + 2 × 7, whatever this instance's own (small) delay.
      expect(window.current()).toBeGreaterThanOrEqual(22);
      expect(window.current()).toBeLessThan(30);
      expect(own).toHaveLength(1);
      // A later, larger report raises it at once; a report of another peer below it changes nothing.
      window.observe('instance-b', 100);
      window.observe('instance-c', 1);
      window.sample();
      expect(window.current()).toBe(40);
      // Reports older than a second no longer count: the window goes back down.
      clock += 1001;
      for (let reading = 0; reading < 40; reading += 1) window.sample();
      expect(window.current()).toBe(8);
      // Nonsense is ignored.
      window.observe('instance-d', Number.NaN);
      window.observe('instance-d', -5);
      window.sample();
      expect(window.current()).toBe(8);
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
