// Helpers for the agent tests: bounded waits and small builders.
import { MessageStatus } from '../../src/protocol/codes.ts';
import type { Message } from '../../src/protocol/frames.ts';
import type { ModelEvent } from '../../src/agents/model-client.ts';

/** Rejects with `what` when `promise` does not settle within `timeoutMs`. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Every event of a stream, and what it threw (if it did), within a time bound. */
export async function drain<T = ModelEvent>(
  iterable: AsyncIterable<T>,
  timeoutMs = 3000,
): Promise<{ events: T[]; error: unknown }> {
  const events: T[] = [];
  const run = async () => {
    try {
      for await (const event of iterable) events.push(event);
      return { events, error: undefined };
    } catch (error) {
      return { events, error };
    }
  };
  return within(run(), `stream did not end (${events.length} events so far)`, timeoutMs);
}

let sequence = 0;

export function userMessage(text: string, author = 'ada'): Message {
  sequence += 1;
  return {
    id: `m${sequence}`,
    role: 'user',
    author,
    text,
    status: MessageStatus.completed,
    createdAt: new Date(0).toISOString(),
  };
}

export function agentMessage(author: string, text: string, parts?: Message['parts']): Message {
  sequence += 1;
  return {
    id: `m${sequence}`,
    role: 'assistant',
    author,
    text,
    status: MessageStatus.completed,
    createdAt: new Date(0).toISOString(),
    ...(parts ? { parts } : {}),
  };
}

export function textOf(events: readonly ModelEvent[]): string {
  return events.map((event) => (event.type === 'delta' ? (event.delta.text ?? '') : '')).join('');
}
