// A paced token producer, shared by every system under test so that all of them see the same
// workload: tokens are produced on timer ticks at `rate` per second, each stamped with the bench
// time at which it was produced (` t<ms>`), regardless of whether the consumer keeps up. A system
// that falls behind therefore shows it as latency, as it would with a real model whose tokens
// arrive on a socket.
import { now } from './clock.ts';

export interface TokenSourceOptions {
  /** Tokens per second. */
  rate: number;
  /** Tokens to produce in all. */
  count: number;
  /** Wait this long before the first token (a model's time to first token). @default 0 */
  firstTokenDelayMs?: number;
  signal?: AbortSignal;
  onToken(token: string): void;
}

export interface TokenSourceResult {
  produced: number;
  startedAt: number;
  endedAt: number;
}

/** ` t12345.678`: a space-led token carrying its production time (bench ms). */
export function formatToken(at: number): string {
  return ` t${at.toFixed(3)}`;
}

const TOKEN_PATTERN = / t(\d+\.\d+)/g;

/** Calls `onTime` with the production time of every token in `text`; returns how many there were. */
export function forEachTokenTime(text: string, onTime: (at: number) => void): number {
  let found = 0;
  TOKEN_PATTERN.lastIndex = 0;
  for (let match = TOKEN_PATTERN.exec(text); match !== null; match = TOKEN_PATTERN.exec(text)) {
    onTime(Number(match[1]));
    found += 1;
  }
  return found;
}

/** Produces `count` tokens at `rate`; resolves when all are produced (or the signal aborts). */
export function runTokenSource(options: TokenSourceOptions): Promise<TokenSourceResult> {
  const { rate, count, signal } = options;
  const tickMs = Math.max(1, Math.min(20, 1000 / rate));
  return new Promise((resolve) => {
    let produced = 0;
    let startedAt = Number.NaN;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve({ produced, startedAt, endedAt: now() });
    };
    const tick = () => {
      if (signal?.aborted) return finish();
      const at = now();
      if (Number.isNaN(startedAt)) startedAt = at;
      // Token n (0-based) is due at startedAt + n / rate.
      const due = Math.min(count, Math.floor(((at - startedAt) * rate) / 1000) + 1);
      while (produced < due) {
        options.onToken(formatToken(now()));
        produced += 1;
      }
      if (produced >= count) return finish();
      timer = setTimeout(tick, tickMs);
    };
    signal?.addEventListener('abort', finish, { once: true });
    if (count <= 0) return finish();
    timer = setTimeout(tick, options.firstTokenDelayMs ?? 0);
  });
}
