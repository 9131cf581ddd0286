// Full-jitter exponential backoff: a delay drawn uniformly from [0, min(maxMs, baseMs · 2^attempt)).
export interface BackoffOptions {
  /** @default 500 */
  baseMs?: number | undefined;
  /** @default 15000 */
  maxMs?: number | undefined;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}, random = Math.random): number {
  const ceiling = Math.min(options.maxMs ?? 15_000, (options.baseMs ?? 500) * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
