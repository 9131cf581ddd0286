// Test doubles shared by the strategy, team and library tests: a model that only streams (the
// ModelClient port has nothing else), answering from a script, and helpers to run a GroupChat.
import { Agent } from '../../src/agents/agent.ts';
import type { GroupChat, GroupChatEvent } from '../../src/agents/group-chat.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../../src/agents/model-client.ts';
import { MessageStatus } from '../../src/protocol/codes.ts';
import type { FakeScript } from '../support/fake-openai.ts';
import type { Message, Usage } from '../../src/protocol/frames.ts';

export type Answer = string | ((request: ModelTurnRequest, call: number) => string);

/**
 * A model that streams scripted answers in small chunks (two characters each, so parsers see
 * fragments), then usage and finish. Answers are taken in order; the last one repeats.
 */
export class ScriptedModel implements ModelClient {
  readonly id: string;
  readonly requests: ModelTurnRequest[] = [];
  readonly deleted: string[] = [];
  private readonly answers: Answer[];
  private readonly usage: Usage | undefined;

  constructor(answers: Answer[], options: { id?: string; usage?: Usage } = {}) {
    if (answers.length === 0) throw new Error('a scripted model needs at least one answer');
    this.answers = answers;
    this.id = options.id ?? 'scripted';
    this.usage = options.usage;
  }

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    const call = this.requests.length;
    // A snapshot: the caller's history array grows after the turn.
    this.requests.push({ ...request, messages: [...request.messages] });
    const answer = this.answers[Math.min(call, this.answers.length - 1)]!;
    const text = typeof answer === 'string' ? answer : answer(request, call);
    for (let index = 0; index < text.length; index += 2) {
      await Promise.resolve();
      request.signal.throwIfAborted();
      yield { type: 'delta', delta: { text: text.slice(index, index + 2) } };
    }
    if (this.usage) yield { type: 'usage', usage: this.usage };
    yield { type: 'finish', reason: 'stop' };
  }

  deleteConversation(conversationKey: string): Promise<void> {
    this.deleted.push(conversationKey);
    return Promise.resolve();
  }
}

/** A model that streams one delta and then waits until its signal aborts (a stream that never ends). */
export class HangingModel implements ModelClient {
  readonly id = 'hanging';
  started = 0;

  async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
    this.started += 1;
    yield { type: 'delta', delta: { text: 'partial' } };
    await new Promise<void>((_, reject) => {
      if (request.signal.aborted) reject(request.signal.reason as Error);
      request.signal.addEventListener('abort', () => reject(request.signal.reason as Error), { once: true });
    });
  }
}

export function agents(model: ModelClient, ...names: string[]): Agent[] {
  return names.map(
    (name) => new Agent({ name, description: `the ${name}`, instructions: `You are the ${name}.`, model }),
  );
}

let sequence = 0;

export function message(
  author: string,
  text: string,
  role = author === 'user' ? 'user' : 'assistant',
): Message {
  sequence += 1;
  return {
    id: `msg-${sequence}`,
    role,
    author,
    text,
    status: MessageStatus.completed,
    createdAt: new Date(0).toISOString(),
  };
}

/** Runs a GroupChat to its end and returns every event (bounded in time). */
export async function runChat(
  chat: GroupChat,
  history: readonly Message[],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<GroupChatEvent[]> {
  const events: GroupChatEvent[] = [];
  const run = async () => {
    for await (const event of chat.run({ history, signal: options.signal ?? new AbortController().signal }))
      events.push(event);
    return events;
  };
  let timer: NodeJS.Timeout | undefined;
  const limit = options.timeoutMs ?? 5000;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the run did not end within ${limit} ms (${events.length} events)`)),
      limit,
    );
  });
  return Promise.race([run(), timeout]).finally(() => clearTimeout(timer));
}

export function speakers(events: readonly GroupChatEvent[]): string[] {
  return events.flatMap((event) => (event.type === 'message-start' ? [event.agent] : []));
}

export function runEnd(events: readonly GroupChatEvent[]): Extract<GroupChatEvent, { type: 'run-end' }> {
  const last = events.at(-1);
  if (last?.type !== 'run-end') throw new Error(`the run did not end with run-end: ${JSON.stringify(last)}`);
  return last;
}

export function finished(events: readonly GroupChatEvent[]): Message[] {
  return events.flatMap((event) => (event.type === 'message-end' ? [event.message] : []));
}

/** The `chat-text` fixture with its content replaced by `text`, streamed in fragments of 3 characters. */
export function chatAnswer(text: string): FakeScript {
  const fragments = text.match(/[\s\S]{1,3}/g) ?? [''];
  let contentChunk = 0;
  return {
    fixture: 'chat-text',
    transform: (event) => {
      const choices = event['choices'] as { delta?: { content?: string } }[] | undefined;
      const delta = choices?.[0]?.delta;
      if (delta && typeof delta.content === 'string' && delta.content !== '') {
        // The fixture has four content chunks; the answer's fragments are spread over them.
        const share = Math.ceil(fragments.length / 4);
        delta.content = fragments.slice(contentChunk * share, (contentChunk + 1) * share).join('');
        contentChunk += 1;
      }
      return event;
    },
  };
}
