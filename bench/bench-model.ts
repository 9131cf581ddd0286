// The bench's model client: a stand-in for an LLM whose tokens carry the time they were produced,
// so that viewers can measure token → viewer latency. The user message that starts the run says
// what to produce: `bench rate=<tokens/s> count=<tokens> ttft=<ms>`. Tokens are produced by a
// timer at that rate into a queue, whether or not Chorus has pulled the previous ones yet (as a
// real model's tokens arrive on its socket), and the stream yields them one delta per token.
// Every turn records when the model was called and when it yielded its first token. (Chorus may
// merge these deltas into fewer frames: CHORUS_DELTA_WINDOW_MS; viewers count tokens, not frames.)
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../src/agents/model-client.ts';
import { now } from './lib/clock.ts';
import { runTokenSource } from './lib/token-source.ts';

/** The team the bench's Chorus servers run (see servers/chorus-server.ts). */
export const BENCH_TEAM = 'bench';

export interface BenchTurnTiming {
  /** Bench ms when Chorus called `stream`. */
  calledAt: number;
  /** Bench ms when the first token was yielded to Chorus (NaN if none was). */
  firstTokenAt: number;
  /** Bench ms when the last token was yielded. */
  lastTokenAt: number;
  tokens: number;
}

export interface BenchRequestSpec {
  rate: number;
  count: number;
  ttftMs: number;
}

const SPEC_PATTERN = /bench rate=(\d+(?:\.\d+)?) count=(\d+)(?: ttft=(\d+(?:\.\d+)?))?/;
/** Bounds, so that no request can make the model run away. */
const MAX_COUNT = 200_000;
const MAX_RATE = 1_000_000;

export function benchRequestText(spec: BenchRequestSpec): string {
  return `bench rate=${spec.rate} count=${spec.count} ttft=${spec.ttftMs}`;
}

export function parseBenchRequest(text: string): BenchRequestSpec {
  const match = SPEC_PATTERN.exec(text);
  if (!match) return { rate: 50, count: 50, ttftMs: 0 };
  return {
    rate: Math.min(MAX_RATE, Math.max(1, Number(match[1]))),
    count: Math.min(MAX_COUNT, Number(match[2])),
    ttftMs: Math.min(10_000, Number(match[3] ?? 0)),
  };
}

export class BenchModel implements ModelClient {
  readonly id = 'bench';
  /** Timings of turns not yet collected (bounded: the oldest are dropped past 1,000). */
  readonly turns: BenchTurnTiming[] = [];

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const timing: BenchTurnTiming = {
      calledAt: now(),
      firstTokenAt: Number.NaN,
      lastTokenAt: Number.NaN,
      tokens: 0,
    };
    this.turns.push(timing);
    if (this.turns.length > 1000) this.turns.shift();
    const lastUser = [...request.messages].reverse().find((message) => message.role === 'user');
    const spec = parseBenchRequest(lastUser?.text ?? '');

    const queue: string[] = [];
    let head = 0;
    let finished = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    const source = runTokenSource({
      rate: spec.rate,
      count: spec.count,
      firstTokenDelayMs: spec.ttftMs,
      signal: request.signal,
      onToken: (token) => {
        queue.push(token);
        notify();
      },
    });
    void source.then(() => {
      finished = true;
      notify();
    });

    while (head < queue.length || !finished) {
      if (head >= queue.length) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      request.signal.throwIfAborted();
      const token = queue[head]!;
      head += 1;
      if (head > 4096 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      const at = now();
      if (timing.tokens === 0) timing.firstTokenAt = at;
      timing.lastTokenAt = at;
      timing.tokens += 1;
      yield { type: 'delta', delta: { text: token } };
    }
    request.signal.throwIfAborted();
    yield {
      type: 'usage',
      usage: { inputTokens: 0, outputTokens: timing.tokens, totalTokens: timing.tokens },
    };
    yield { type: 'finish', reason: 'stop' };
  }

  /** Takes the recorded timings (oldest first). */
  takeTurns(): BenchTurnTiming[] {
    return this.turns.splice(0);
  }
}
