// The delta merge window, adapted to load. At ordinary load it is CHORUS_DELTA_WINDOW_MS (8 ms:
// deltas of a fast model leave a few per frame, at no cost in latency a person can see). When the
// instance is busy — its event loop runs late — every frame it sends costs more time than the
// tokens it carries are worth, so the window grows with the event loop's delay, up to
// CHORUS_DELTA_WINDOW_MAX_MS: a saturated instance sends fewer, fuller frames instead of falling
// behind. The trade-off: under load a token may wait up to the larger window before it leaves,
// which is latency spent on purpose rather than lost in a queue (docs/benchmark.md has figures).
//
// The instance that runs a thread is not always the one that is busy: viewers may sit on another
// instance (a load balancer's stickiness, or a gateway that serves many threads run elsewhere),
// and that instance pays for every frame once per viewer. So each instance tells the others how
// late its loop runs (a `load` control signal, only while it is late, and once when it is no
// longer), and the window follows the latest of its own delay and its peers' recent ones.
// The window grows at once and shrinks gradually, so that the relief it brings does not
// immediately take it away again (which would make the window, and the latency, oscillate).

/** How often the event loop's delay is read and the window recomputed. */
const SAMPLE_MS = 200;
/** The probe timer's period: how late it fires is the event loop's delay. */
const PROBE_MS = 10;
/** A peer's report counts this long after it arrived (reports come every SAMPLE_MS while late). */
const PEER_REPORT_TTL_MS = 1000;
/** Per reading, the window moves this share of the way down towards its target (up: all the way). */
const SHRINK_SHARE = 0.2;

export interface DeltaWindow {
  /** The window now, in ms. */
  current(): number;
  /** Reads the event loop's delay since the last reading and recomputes the window (done every 200 ms). */
  sample(): void;
  /** Another instance's loop delay (its `load` report). */
  observe(source: string, delayMs: number): void;
  close(): void;
}

export function fixedDeltaWindow(windowMs: number): DeltaWindow {
  return {
    current: () => windowMs,
    sample: () => undefined,
    observe: () => undefined,
    close: () => undefined,
  };
}

/**
 * A window of `baseMs` that grows to `baseMs + 2 × the event loop's mean delay` (the time a frame's
 * work waits anyway) — this instance's or a peer's, whichever is later — at most `maxMs`.
 * `maxMs <= baseMs` keeps it fixed. `onSample` gets this instance's delay at every reading (to
 * report it to the peers).
 */
export function adaptiveDeltaWindow(
  baseMs: number,
  maxMs: number,
  options: {
    /** 0: only when `sample()` is called. @default 200 */
    sampleMs?: number | undefined;
    onSample?: ((delayMs: number) => void) | undefined;
    /** The clock peer reports age by (tests). */
    now?: (() => number) | undefined;
  } = {},
): DeltaWindow {
  if (maxMs <= baseMs) return fixedDeltaWindow(baseMs);
  const now = options.now ?? (() => performance.now());
  // A timer that should fire every PROBE_MS: how late it fires is how late everything else runs.
  let lateMs = 0;
  let probes = 0;
  let expected = performance.now() + PROBE_MS;
  const probe = setInterval(() => {
    const at = performance.now();
    lateMs += Math.max(0, at - expected);
    probes += 1;
    expected = at + PROBE_MS;
  }, PROBE_MS);
  probe.unref();
  const peers = new Map<string, { delayMs: number; at: number }>();
  let windowMs = baseMs;
  const sample = () => {
    const ownDelayMs = probes === 0 ? 0 : lateMs / probes;
    lateMs = 0;
    probes = 0;
    let delayMs = ownDelayMs;
    const at = now();
    for (const [source, report] of peers) {
      if (at - report.at > PEER_REPORT_TTL_MS) peers.delete(source);
      else delayMs = Math.max(delayMs, report.delayMs);
    }
    const target = Math.min(maxMs, baseMs + 2 * delayMs);
    windowMs = target >= windowMs ? target : windowMs - (windowMs - target) * SHRINK_SHARE;
    if (windowMs - baseMs < 0.5) windowMs = baseMs;
    options.onSample?.(ownDelayMs);
  };
  const sampleMs = options.sampleMs ?? SAMPLE_MS;
  const timer = sampleMs > 0 ? setInterval(sample, sampleMs) : undefined;
  timer?.unref();
  return {
    current: () => windowMs,
    sample,
    observe: (source, delayMs) => {
      if (Number.isFinite(delayMs) && delayMs >= 0) peers.set(source, { delayMs, at: now() });
    },
    close: () => {
      clearInterval(timer);
      clearInterval(probe);
    },
  };
}
