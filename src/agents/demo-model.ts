// The demo model: a deterministic, local stand-in for an LLM (no key, no network). It streams
// 40–80 word tokens at a fixed rate; the text depends on the agent, its instructions and the
// conversation, so messages differ, and the same conversation always gives the same text.
// A reviewer-like agent (instructions mentioning APPROVED) approves on its second review.
import type { Message } from '../protocol/frames.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest } from './model-client.ts';
import { abortableSleep } from './model-retry.ts';

export interface DemoModelOptions {
  /** Tokens per second (CHORUS_DEMO_TOKENS_PER_SECOND, default 40). 0 or Infinity: no delay. */
  tokensPerSecond?: number | undefined;
}

const OPENERS = [
  'Building on that,',
  'Looking at the request,',
  'Here is my take:',
  'To move this forward,',
  'Considering the thread so far,',
  'Picking up from the last message,',
];
const VERBS = [
  'outline',
  'refine',
  'check',
  'sketch',
  'tighten',
  'compare',
  'split',
  'measure',
  'name',
  'test',
];
const NOUNS = [
  'the plan',
  'the first step',
  'the edge cases',
  'the failure modes',
  'the user story',
  'the timeline',
  'the data flow',
  'the open questions',
  'the budget',
  'the interfaces',
  'the rollout',
  'the risks',
];
const LINKS = ['and then', 'so that', 'because', 'while we', 'before we', 'after we'];

export class DemoModel implements ModelClient {
  readonly id = 'demo';
  private readonly intervalMs: number;

  constructor(options: DemoModelOptions = {}) {
    const rate = options.tokensPerSecond ?? 40;
    this.intervalMs = rate > 0 && Number.isFinite(rate) ? 1000 / rate : 0;
  }

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const tokens = demoTokens(request.agent, request.messages);
    const started = performance.now();
    for (let index = 0; index < tokens.length; index += 1) {
      request.signal.throwIfAborted();
      if (this.intervalMs > 0) {
        // Paced against the start time, so timer jitter does not accumulate.
        const due = started + index * this.intervalMs - performance.now();
        if (due > 0) await abortableSleep(due, request.signal);
      } else if (index % 16 === 15) {
        await yieldToLoop(request.signal);
      }
      yield { type: 'delta', delta: { text: tokens[index]! } };
    }
    const inputTokens = request.messages.reduce((sum, message) => sum + countWords(message.text), 0);
    yield {
      type: 'usage',
      usage: { inputTokens, outputTokens: tokens.length, totalTokens: inputTokens + tokens.length },
    };
    yield { type: 'finish', reason: 'stop' };
  }
}

/** The tokens (words with their leading space) the demo model answers with; deterministic. */
export function demoTokens(
  agent: { name: string; instructions: string },
  messages: readonly Message[],
): string[] {
  const last = messages.at(-1);
  const random = mulberry32(
    hash(`${agent.name}\n${agent.instructions}\n${messages.length}\n${last?.text ?? ''}`),
  );
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const target = 40 + Math.floor(random() * 41);
  const topic = topicOf(messages);
  const words: string[] = [];
  const say = (sentence: string) => words.push(...sentence.split(' '));

  say(`${pick(OPENERS)} as ${agent.name} I will ${pick(VERBS)} ${pick(NOUNS)} for "${topic}".`);
  while (words.length < target - 12) {
    say(`We ${pick(VERBS)} ${pick(NOUNS)} ${pick(LINKS)} ${pick(VERBS)} ${pick(NOUNS)}.`);
  }
  if (/APPROVED/.test(agent.instructions)) {
    const reviews = messages.filter((message) => message.author === agent.name).length;
    // The first review asks for changes; the second approves (so a demo run shows several turns).
    say(
      reviews >= 1
        ? 'This version reads well and covers the risks. APPROVED'
        : 'Please revise the plan and address the risks before I approve it.',
    );
  } else {
    while (words.length < target) say(`Next I ${pick(VERBS)} ${pick(NOUNS)}.`);
  }
  return words.map((word, index) => (index === 0 ? word : ` ${word}`));
}

function topicOf(messages: readonly Message[]): string {
  const firstUser = [...messages].reverse().find((message) => message.role === 'user');
  const words = (firstUser?.text ?? 'the conversation').trim().split(/\s+/).slice(0, 6).join(' ');
  return words.replaceAll('"', "'");
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function hash(text: string): number {
  let value = 2166136261;
  for (let index = 0; index < text.length; index += 1) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 16777619);
  }
  return value >>> 0;
}

function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function yieldToLoop(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve)).then(() => signal.throwIfAborted());
}
