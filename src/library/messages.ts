// What library callers may pass as a message: text (a user message), an SK-like
// `{ role, content, name }`, or a full Message.
import { nanoid } from 'nanoid';
import { MessageStatus } from '../protocol/codes.ts';
import type { Message } from '../protocol/frames.ts';

export type ChatMessageInput =
  string | Message | { role?: 'user' | 'assistant' | 'system'; content: string; name?: string };

/** The author of library user messages that name none. */
export const DEFAULT_USER = 'user';

export function toMessage(input: ChatMessageInput): Message {
  if (typeof input === 'string') return userMessage(input, DEFAULT_USER, 'user');
  if ('content' in input && !('text' in input)) {
    const role = input.role ?? 'user';
    return userMessage(input.content, input.name ?? (role === 'user' ? DEFAULT_USER : role), role);
  }
  return { ...input };
}

export function toMessages(input: ChatMessageInput | readonly ChatMessageInput[] | undefined): Message[] {
  if (input === undefined) return [];
  if (Array.isArray(input)) return (input as readonly ChatMessageInput[]).map(toMessage);
  return [toMessage(input as ChatMessageInput)];
}

function userMessage(text: string, author: string, role: string): Message {
  return {
    id: nanoid(16),
    role,
    author,
    text,
    status: MessageStatus.completed,
    createdAt: new Date().toISOString(),
  };
}
