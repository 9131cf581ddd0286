// One streamed question to a model, for the strategies that ask one (the LLM selector and judge).
// Only `stream()` exists on the ModelClient port, so stream-only models work (SK#11505,
// AutoGen#6145 broke on them): the text deltas are collected into the answer.
import { nanoid } from 'nanoid';
import { MessageStatus } from '../../protocol/codes.ts';
import type { Message, Usage } from '../../protocol/frames.ts';
import { addUsage } from '../agent.ts';
import type { ModelClient } from '../model-client.ts';

export interface ModelQuestion {
  /** Name the model sees itself as (for example `selector`). */
  name: string;
  instructions: string;
  messages: readonly Message[];
  maxOutputTokens?: number | undefined;
  signal: AbortSignal;
}

export interface ModelAnswer {
  text: string;
  usage?: Usage | undefined;
}

export async function askModel(model: ModelClient, question: ModelQuestion): Promise<ModelAnswer> {
  let text = '';
  let usage: Usage | undefined;
  for await (const event of model.stream({
    agent: { name: question.name, instructions: question.instructions },
    messages: question.messages,
    ...(question.maxOutputTokens === undefined ? {} : { maxOutputTokens: question.maxOutputTokens }),
    signal: question.signal,
  })) {
    question.signal.throwIfAborted();
    if (event.type === 'delta' && event.delta.text) text += event.delta.text;
    else if (event.type === 'usage') usage = addUsage(usage, event.usage);
  }
  return { text, ...(usage ? { usage } : {}) };
}

/** A message the strategy adds to what the model reads (never stored in the thread). */
export function promptMessage(role: 'user' | 'assistant', author: string, text: string): Message {
  return {
    id: `prompt-${nanoid(8)}`,
    role,
    author,
    text,
    status: MessageStatus.completed,
    createdAt: new Date().toISOString(),
  };
}

/** The last `limit` messages (all when limit is undefined). */
export function recent(history: readonly Message[], limit: number | undefined): readonly Message[] {
  return limit === undefined || history.length <= limit ? history : history.slice(history.length - limit);
}

/** Quotes, markdown emphasis and code fences a model may wrap a short answer in. */
export function stripDecoration(text: string): string {
  return text
    .replace(/```[a-z]*\n?/gi, ' ')
    .replace(/[`*_#>"“”‘’«»]/g, ' ')
    .replace(/(^|\s)'+|'+(\s|$)/g, '$1$2')
    .replace(/\s+/g, ' ')
    .trim();
}
