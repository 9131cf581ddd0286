// One entry of a thread view, the shape a UI renders: a stored message, a message still streaming,
// or a post of this client not stored yet. Stored messages are in history order, then posts not yet
// stored, then messages in flight — the same order live and after a reload.
import type { ContentAccumulator } from '../protocol/content.ts';
import type { Message, Part, Usage } from './frames.ts';
import type { OutgoingPost } from './outgoing-post.ts';

export const ItemStatus = {
  /** A post of this client on its way (queued offline, or awaiting `posted`). */
  sending: 'sending',
  /** A post the server confirmed; its stored message has not arrived on the subscription yet. */
  sent: 'sent',
  /** A post that could not be delivered (`item.error` says why); `item.post.retry()` tries again. */
  unsent: 'unsent',
  /** An agent message being written. */
  streaming: 'streaming',
  completed: 'completed',
  cancelled: 'cancelled',
  /** The agent's turn failed; `item.error` has the stored error's code and message. */
  failed: 'failed',
  interrupted: 'interrupted',
} as const;
export type ItemStatus = (typeof ItemStatus)[keyof typeof ItemStatus];

export interface ThreadItem {
  /**
   * A stable key for rendering: the message id (the same while streaming and once stored); for a
   * post not stored yet, `post:<clientMessageId>`.
   */
  readonly key: string;
  readonly kind: 'message' | 'streaming' | 'post';
  /** The message id; null for a post not stored yet. */
  readonly id: string | null;
  /** Stored messages only: the message's cursor. */
  readonly cursor: string | null;
  /** `user` or `assistant` (other values may come). */
  readonly role: string;
  /** The user's or the agent's name. */
  readonly author: string;
  readonly text: string;
  /** Typed content in order; a stored user message gets one text part. */
  readonly parts: readonly Part[];
  readonly status: ItemStatus;
  readonly createdAt: string | null;
  readonly runId: string | null;
  readonly clientMessageId: string | null;
  /** A failed message's stored error, or why a post is unsent. */
  readonly error: { code: string; message: string } | null;
  readonly usage: Usage | null;
  /** Stored messages: exactly what history holds. */
  readonly message: Message | null;
  /** Posts of this client (stored or not): the post and its delivery state. */
  readonly post: OutgoingPost | null;
  /**
   * A streaming message from before a reconnect whose state the server has not restated yet (it
   * will: a snapshot, or the stored message).
   */
  readonly stale: boolean;
}

export function storedItem(cursor: string, message: Message, post: OutgoingPost | null): ThreadItem {
  return {
    key: message.id,
    kind: 'message',
    id: message.id,
    cursor,
    role: message.role,
    author: message.author,
    text: message.text,
    parts: message.parts ?? (message.text ? [{ type: 'text', text: message.text }] : []),
    status: message.status,
    createdAt: message.createdAt,
    runId: message.runId ?? null,
    clientMessageId: message.clientMessageId ?? null,
    error: message.error ? { code: message.error.code, message: message.error.message } : null,
    usage: message.usage ?? null,
    message,
    post,
    stale: false,
  };
}

/** An agent message in flight, as the deltas so far make it. */
export interface InFlightMessage {
  messageId: string;
  runId: string;
  agent: string;
  createdAt: string | null;
  content: ContentAccumulator;
  /** The last `seq` applied (0 before the first fragment). */
  seq: number;
  stale: boolean;
}

export function streamingItem(message: InFlightMessage): ThreadItem {
  return {
    key: message.messageId,
    kind: 'streaming',
    id: message.messageId,
    cursor: null,
    role: 'assistant',
    author: message.agent,
    text: message.content.text,
    parts: message.content.snapshotParts(),
    status: ItemStatus.streaming,
    createdAt: message.createdAt,
    runId: message.runId,
    clientMessageId: null,
    error: null,
    usage: null,
    message: null,
    post: null,
    stale: message.stale,
  };
}

export function postItem(post: OutgoingPost, author: string): ThreadItem {
  return {
    key: `post:${post.clientMessageId}`,
    kind: 'post',
    id: post.messageId,
    cursor: null,
    role: 'user',
    author,
    text: post.text,
    parts: [{ type: 'text', text: post.text }],
    status:
      post.state === 'failed'
        ? ItemStatus.unsent
        : post.state === 'sent'
          ? ItemStatus.sent
          : ItemStatus.sending,
    createdAt: post.createdAt,
    runId: null,
    clientMessageId: post.clientMessageId,
    error: post.error ? { code: post.error.code, message: post.error.message } : null,
    usage: null,
    message: null,
    post,
    stale: false,
  };
}
