// The benchmark's clock: milliseconds since BENCH_EPOCH (an epoch-ms integer the orchestrator
// chooses and passes to every process it starts). Every process on this machine reads the same
// wall clock through performance.timeOrigin + performance.now(), so a timestamp taken in one
// process can be compared with one taken in another; subtracting a shared epoch keeps the numbers
// (and the tokens that carry them) short.

const fromEnvironment = Number(process.env.BENCH_EPOCH);
/** Epoch ms that bench times count from. */
export const benchEpoch: number =
  Number.isFinite(fromEnvironment) && fromEnvironment > 0
    ? fromEnvironment
    : Math.floor(performance.timeOrigin);

/** Now, in ms since the bench epoch (sub-millisecond precision). */
export function now(): number {
  return performance.timeOrigin + performance.now() - benchEpoch;
}

/** Resolves after `ms` (bench pacing only; waits for conditions use `waitUntil`). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `condition` every `intervalMs` until it holds (true) or `timeoutMs` has passed (false).
 * Bounded in time and in count.
 */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 10,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (performance.now() >= deadline) return false;
    await delay(intervalMs);
  }
}
