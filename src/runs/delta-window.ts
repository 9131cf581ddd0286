// The delta merge window, adapted to load. At ordinary load it is CHORUS_DELTA_WINDOW_MS (8 ms:
// deltas of a fast model leave a few per frame, at no cost in latency a person can see). When the
// instance is busy — its event loop runs late — every frame it sends costs more time than the
// tokens it carries are worth, so the window grows with the event loop's delay, up to
// CHORUS_DELTA_WINDOW_MAX_MS: a saturated instance sends fewer, fuller frames instead of falling
// behind. The trade-off: under load a token may wait up to the larger window before it leaves,
// which is latency spent on purpose rather than lost in a queue (docs/benchmark.md has figures).

/** How often the event loop's delay is read and the window recomputed. */
const SAMPLE_MS = 200;
/** The probe timer's period: how late it fires is the event loop's delay. */
const PROBE_MS = 10;

export interface DeltaWindow {
  /** The window now, in ms. */
  current(): number;
  /** Reads the event loop's delay since the last reading and recomputes the window (done every 200 ms). */
  sample(): void;
  close(): void;
}

export function fixedDeltaWindow(windowMs: number): DeltaWindow {
  return { current: () => windowMs, sample: () => undefined, close: () => undefined };
}

/**
 * A window of `baseMs` that grows to `baseMs + 2 × the event loop's mean delay` (the time a frame's
 * work waits anyway), at most `maxMs`. `maxMs <= baseMs` keeps it fixed.
 */
export function adaptiveDeltaWindow(
  baseMs: number,
  maxMs: number,
  options: { /** 0: only when `sample()` is called. @default 200 */ sampleMs?: number } = {},
): DeltaWindow {
  if (maxMs <= baseMs) return fixedDeltaWindow(baseMs);
  // A timer that should fire every PROBE_MS: how late it fires is how late everything else runs.
  let lateMs = 0;
  let probes = 0;
  let expected = performance.now() + PROBE_MS;
  const probe = setInterval(() => {
    const now = performance.now();
    lateMs += Math.max(0, now - expected);
    probes += 1;
    expected = now + PROBE_MS;
  }, PROBE_MS);
  probe.unref();
  let windowMs = baseMs;
  const sample = () => {
    const delayMs = probes === 0 ? 0 : lateMs / probes;
    lateMs = 0;
    probes = 0;
    windowMs = Math.min(maxMs, baseMs + 2 * delayMs);
  };
  const sampleMs = options.sampleMs ?? SAMPLE_MS;
  const timer = sampleMs > 0 ? setInterval(sample, sampleMs) : undefined;
  timer?.unref();
  return {
    current: () => windowMs,
    sample,
    close: () => {
      clearInterval(timer);
      clearInterval(probe);
    },
  };
}
