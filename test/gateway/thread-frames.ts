// Helpers for the gateway stories: thread requests over a TestClient, and checks of the streamed
// frames against the protocol's invariants (seq without gap, deltas that add up to message-end).
import { expect } from 'vitest';
import type { Frame, FrameOf, TestClient } from '../support/ws-client.ts';

export type ThreadEventFrame = FrameOf<
  'message' | 'run-start' | 'message-start' | 'message-delta' | 'message-end' | 'run-end' | 'thread-deleted'
>;

const threadEventTypes: ReadonlySet<string> = new Set([
  'message',
  'run-start',
  'message-start',
  'message-delta',
  'message-end',
  'run-end',
  'thread-deleted',
]);

let counter = 0;
/** A fresh id for threads and clientMessageIds, unique within the test process. */
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

export async function createThread(client: TestClient, threadId = uniqueId('thread')): Promise<string> {
  const created = await client.request({ type: 'create-thread', threadId }, 'thread-created');
  expect(created.threadId).toBe(threadId);
  return threadId;
}

/** Subscribes and returns `subscribed` and the backlog `message` frames that follow it. */
export async function subscribe(
  client: TestClient,
  threadId: string,
  cursor?: string,
): Promise<{ subscribed: FrameOf<'subscribed'>; backlog: FrameOf<'message'>[] }> {
  const subscribed = await client.request(
    { type: 'subscribe', threadId, ...(cursor === undefined ? {} : { cursor }) },
    'subscribed',
  );
  const following = await client.framesAfter(subscribed, subscribed.backlog, {
    description: `the ${subscribed.backlog} backlog messages after subscribed`,
  });
  const backlog = following.map((frame) => {
    if (frame.type !== 'message') throw new Error(`expected a backlog message, got ${JSON.stringify(frame)}`);
    return frame;
  });
  return { subscribed, backlog };
}

export async function post(
  client: TestClient,
  threadId: string,
  text: string,
  clientMessageId = uniqueId('post'),
): Promise<FrameOf<'posted'>> {
  return client.request({ type: 'post', threadId, clientMessageId, text }, 'posted');
}

export function isThreadEvent(frame: Frame): frame is ThreadEventFrame {
  return threadEventTypes.has(frame.type) && !('requestId' in frame && frame.requestId !== undefined);
}

/** The thread events among `frames` (replies to requests left out). */
export function threadEvents(frames: readonly Frame[], threadId: string): ThreadEventFrame[] {
  return frames.filter(
    (frame): frame is ThreadEventFrame => isThreadEvent(frame) && frame.threadId === threadId,
  );
}

export interface StreamedMessage {
  messageId: string;
  agent: string;
  /** seq of each delta received, in order (a snapshot's seq included). */
  seqs: number[];
  /** The snapshot's text (when the message was joined mid-stream) followed by every live delta's text. */
  streamedText: string;
  snapshot: boolean;
  end: FrameOf<'message-end'> | undefined;
}

/**
 * Folds thread events into the agent messages they stream, checking on the way: deltas only
 * between their message's start and end, seq 1, 2, 3 … without gap (from a snapshot's seq + 1).
 */
export function streamedMessages(events: readonly ThreadEventFrame[]): StreamedMessage[] {
  const messages: StreamedMessage[] = [];
  const open = new Map<string, StreamedMessage>();
  for (const event of events) {
    if (event.type === 'message-start') {
      expect(open.has(event.messageId), `message-start twice for ${event.messageId}`).toBe(false);
      const message: StreamedMessage = {
        messageId: event.messageId,
        agent: event.agent,
        seqs: [],
        streamedText: '',
        snapshot: false,
        end: undefined,
      };
      open.set(event.messageId, message);
      messages.push(message);
    } else if (event.type === 'message-delta') {
      const message = open.get(event.messageId);
      if (!message) throw new Error(`message-delta without an open message-start: ${JSON.stringify(event)}`);
      if (event.snapshot) {
        expect(message.seqs, `a snapshot must come before any live delta of ${event.messageId}`).toEqual([]);
        message.snapshot = true;
        message.streamedText = event.text ?? '';
      } else {
        const expected = (message.seqs.at(-1) ?? 0) + 1;
        expect(event.seq, `seq of message ${event.messageId} after ${message.seqs.join(',')}`).toBe(expected);
        message.streamedText += event.text ?? '';
      }
      message.seqs.push(event.seq);
    } else if (event.type === 'message-end') {
      const message = open.get(event.messageId);
      if (message) {
        message.end = event;
        open.delete(event.messageId);
      }
    }
  }
  return messages;
}

/** Asserts that every finished streamed message's deltas add up to its message-end text. */
export function expectDeltasAddUp(messages: readonly StreamedMessage[]): void {
  for (const message of messages) {
    if (!message.end) continue;
    expect(message.streamedText, `deltas of ${message.agent}'s message ${message.messageId}`).toBe(
      message.end.message.text,
    );
  }
}

export interface TranscriptEntry {
  id: string;
  cursor: string;
  author: string;
  role: string;
  text: string;
  status: string;
}

/** Stored messages as a viewer saw them (`message` and `message-end` frames), in arrival order. */
export function transcript(frames: readonly Frame[], threadId: string): TranscriptEntry[] {
  const entries: TranscriptEntry[] = [];
  for (const frame of threadEvents(frames, threadId)) {
    if (frame.type !== 'message' && frame.type !== 'message-end') continue;
    const { message, cursor } = frame;
    entries.push({
      id: message.id,
      cursor,
      author: message.author,
      role: message.role,
      text: message.text,
      status: message.status,
    });
  }
  return entries;
}

/** The thread's whole history, oldest first, read page by page with `before`. */
export async function readHistory(
  client: TestClient,
  threadId: string,
  limit = 50,
): Promise<TranscriptEntry[]> {
  const pages: FrameOf<'history-page'>[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await client.request(
      { type: 'history', threadId, limit, ...(before === undefined ? {} : { before }) },
      'history-page',
    );
    pages.unshift(page);
    if (!page.hasMore) break;
    const oldest = page.items[0];
    if (!oldest) throw new Error(`history-page with hasMore and no items: ${JSON.stringify(page)}`);
    before = oldest.cursor;
  }
  return pages.flatMap((page) =>
    page.items.map(({ cursor, message }) => ({
      id: message.id,
      cursor,
      author: message.author,
      role: message.role,
      text: message.text,
      status: message.status,
    })),
  );
}

/** Waits for the run-end of `runId` (or of the next run) and returns the frames up to it. */
export async function collectRun(client: TestClient, runId?: string, timeoutMs = 10_000): Promise<Frame[]> {
  return client.collectUntil(
    (frame) => frame.type === 'run-end' && (runId === undefined || frame.runId === runId),
    {
      timeoutMs,
      description: runId === undefined ? 'run-end' : `run-end of run ${runId}`,
    },
  );
}
