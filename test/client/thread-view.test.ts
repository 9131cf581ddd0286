// The thread view on its own, fed frames as the protocol defines them through a scripted
// transport: deltas accumulate into messages and a snapshot replaces the partial text; stored
// messages keep history order with posts not stored yet and messages in flight last; a gap in a
// message's seq starts the subscription over from the cursor; a recovered: false reply rebuilds.
import { describe, expect, it } from 'vitest';
import { memoryCursorStore } from '../../src/client/cursor-store.ts';
import { ChorusError } from '../../src/client/errors.ts';
import { ChorusThread, type RequestFrame, type ThreadTransport } from '../../src/client/thread.ts';
import type { Message, ServerFrame } from '../../src/protocol/frames.ts';

interface Sent {
  frame: RequestFrame;
  resolve: (frame: ServerFrame) => void;
  reject: (error: ChorusError) => void;
  onReply: ((frame: ServerFrame) => void) | undefined;
}

function scriptedTransport() {
  const sent: Sent[] = [];
  const transport: ThreadTransport = {
    connected: true,
    user: 'ada',
    requestTimeoutMs: 1000,
    maxPostAttempts: 3,
    backoff: { baseMs: 1, maxMs: 1 },
    cursorStore: memoryCursorStore(),
    send: (frame, options) =>
      new Promise((resolve, reject) => sent.push({ frame, resolve, reject, onReply: options.onReply })),
    request: (frame) =>
      new Promise((resolve, reject) => sent.push({ frame, resolve, reject, onReply: undefined })),
    reconnect: () => undefined,
    forget: () => undefined,
  };
  /** Answers the oldest unanswered request of `type` with `reply` (as the client does: onReply first). */
  const answer = (type: RequestFrame['type'], reply: ServerFrame) => {
    const index = sent.findIndex((entry) => entry.frame.type === type);
    const entry = sent.splice(index, 1)[0];
    if (!entry) throw new Error(`no ${type} was sent`);
    entry.onReply?.(reply);
    entry.resolve(reply);
    return entry.frame;
  };
  return { transport, sent, answer };
}

const message = (id: string, fields: Partial<Message> = {}): Message => ({
  id,
  role: 'assistant',
  author: 'planner',
  text: `text of ${id}`,
  status: 'completed',
  createdAt: '2026-01-01T00:00:00.000Z',
  ...fields,
});

function startMessage(thread: ChorusThread, messageId: string): void {
  thread.handleEvent({ type: 'message-start', threadId: 't', runId: 'run', messageId, agent: 'planner' });
}

/** The reply to a post stored as u2 at e.2. */
function postedU2(fields: { duplicate: boolean; queued: boolean }): ServerFrame {
  return { type: 'posted', requestId: 'r', threadId: 't', messageId: 'u2', cursor: 'e.2', ...fields };
}

function liveThread(options: { cursor?: string } = {}) {
  const { transport, sent, answer } = scriptedTransport();
  const thread = new ChorusThread('t', transport, options);
  thread.connected();
  const subscribe = (reply: Partial<Extract<ServerFrame, { type: 'subscribed' }>> = {}) =>
    answer('subscribe', {
      type: 'subscribed',
      requestId: 'r',
      threadId: 't',
      recovered: false,
      cursor: null,
      backlog: 0,
      truncated: false,
      ...reply,
    });
  return { thread, sent, answer, subscribe };
}

describe('thread view', () => {
  it('accumulates deltas; a snapshot replaces the partial text and accumulation continues', () => {
    const { thread, subscribe } = liveThread();
    subscribe();
    const added: string[] = [];
    thread.on('message-delta', ({ text }) => added.push(text));
    thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'run' });
    startMessage(thread, 'm');
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'm', seq: 1, text: 'Hel' });
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'm', seq: 2, text: 'lo' });
    expect(thread.streaming.map((item) => [item.text, item.status])).toEqual([['Hello', 'streaming']]);
    thread.handleEvent({
      type: 'message-delta',
      threadId: 't',
      messageId: 'm',
      seq: 4,
      snapshot: true,
      text: 'Hello, wor',
      parts: [{ type: 'text', text: 'Hello, wor' }],
    });
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'm', seq: 5, text: 'ld' });
    expect(thread.streaming[0]?.text).toBe('Hello, world');
    expect(thread.streaming[0]?.parts).toEqual([{ type: 'text', text: 'Hello, world' }]);
    expect(added).toEqual(['Hel', 'lo', ', wor', 'ld']);
    expect(thread.run).toEqual({ runId: 'run' });
    thread.handleEvent({
      type: 'message-end',
      threadId: 't',
      messageId: 'm',
      cursor: 'e.2',
      message: message('m', { text: 'Hello, world', runId: 'run' }),
    });
    expect(thread.streaming).toEqual([]);
    expect(thread.messages.map((item) => [item.id, item.text, item.status])).toEqual([
      ['m', 'Hello, world', 'completed'],
    ]);
    expect(thread.cursor).toBe('e.2');
  });

  it('orders stored messages, then posts not stored yet, then messages in flight', async () => {
    const { thread, subscribe, sent, answer } = liveThread();
    subscribe();
    thread.handleEvent({
      type: 'message',
      threadId: 't',
      cursor: 'e.1',
      message: message('u1', { role: 'user', author: 'ada' }),
    });
    startMessage(thread, 'a1');
    const post = thread.post('and another thing');
    expect(sent.map((entry) => entry.frame.type)).toEqual(['post']);
    expect(thread.items().map((item) => [item.kind, item.status])).toEqual([
      ['message', 'completed'],
      ['post', 'sending'],
      ['streaming', 'streaming'],
    ]);
    // The post is stored during the run: it takes its place in history, above the streaming message.
    thread.handleEvent({
      type: 'message',
      threadId: 't',
      cursor: 'e.2',
      message: message('u2', {
        role: 'user',
        author: 'ada',
        text: 'and another thing',
        clientMessageId: post.clientMessageId,
      }),
    });
    expect(thread.items().map((item) => [item.key, item.kind])).toEqual([
      ['u1', 'message'],
      ['u2', 'message'],
      ['a1', 'streaming'],
    ]);
    expect(thread.items()[1]?.post).toBe(post);
    // Its attempt is in flight: the reply, not the message, says how it went.
    expect(post.state).toBe('pending');
    answer('post', postedU2({ duplicate: false, queued: true }));
    await post.done;
    expect(post).toMatchObject({ state: 'sent', attempts: 1, result: { duplicate: false, queued: true } });
  });

  it('a post stored before (another client, the same clientMessageId) is reported a duplicate, as the server answers', async () => {
    const { thread, subscribe, sent, answer } = liveThread({ cursor: 'e.1' });
    const post = thread.post('asked before', { clientMessageId: 'asked-1' });
    subscribe({ recovered: true, cursor: 'e.1', backlog: 1 });
    expect(sent.map((entry) => entry.frame.type)).toEqual(['post']);
    // It is in the backlog, before the reply to the attempt in flight.
    thread.handleEvent({
      type: 'message',
      threadId: 't',
      cursor: 'e.2',
      message: message('u2', { role: 'user', text: 'asked before', clientMessageId: 'asked-1' }),
    });
    expect(post.state).toBe('pending');
    answer('post', postedU2({ duplicate: true, queued: false }));
    await post.done;
    expect(post).toMatchObject({ state: 'sent', attempts: 1, result: { messageId: 'u2', duplicate: true } });
    expect(thread.messages.map((item) => item.key)).toEqual(['u2']);
  });

  it('tells the end of a run that ended while the client was away, once, after the backlog', () => {
    const { thread, subscribe } = liveThread();
    subscribe();
    const ends: string[] = [];
    thread.on('run-end', (end) => ends.push(`${end.runId}:${end.reason}`));
    thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'r1' });
    startMessage(thread, 'a1');
    thread.disconnected();
    thread.connected();
    // The run ended during the drop: no run-start at the join; the thread's last run-end is r1's.
    const lastRunEnd = { type: 'run-end', threadId: 't', runId: 'r1', reason: 'terminated' } as const;
    subscribe({ recovered: true, cursor: 'e.0', backlog: 1, lastRunEnd });
    expect(ends).toEqual([]); // not before the run's messages
    thread.handleEvent({
      type: 'message',
      threadId: 't',
      cursor: 'e.1',
      message: message('a1', { role: 'assistant', author: 'planner' }),
    });
    expect(ends).toEqual(['r1:terminated']);
    expect(thread.run).toBeNull();
    expect(thread.lastRunEnd).toEqual(lastRunEnd);
    // The same end sent live as well (it ended while the subscription was being answered): once.
    thread.handleEvent(lastRunEnd);
    expect(ends).toEqual(['r1:terminated']);
    // A first subscription to a thread with an older run: no run-end event, the state is known.
    const other = liveThread();
    const otherEnds: string[] = [];
    other.thread.on('run-end', (end) => otherEnds.push(end.runId));
    other.subscribe({
      lastRunEnd: { type: 'run-end', threadId: 't', runId: 'r0', reason: 'max-iterations' },
    });
    expect(otherEnds).toEqual([]);
    expect(other.thread.lastRunEnd?.runId).toBe('r0');
    // Its run-end sent live as well (it ended while the subscription was being answered): no event.
    other.thread.handleEvent({ type: 'run-end', threadId: 't', runId: 'r0', reason: 'max-iterations' });
    expect(otherEnds).toEqual([]);
    // A run that started and ended while away, none active before: the newest end, no event.
    other.thread.disconnected();
    other.thread.connected();
    other.subscribe({
      recovered: true,
      cursor: 'e.0',
      lastRunEnd: { type: 'run-end', threadId: 't', runId: 'r1', reason: 'terminated' },
    });
    expect(otherEnds).toEqual([]);
    expect(other.thread.lastRunEnd?.runId).toBe('r1');
  });

  it('asks how the run it saw ended and tells it when a later run ended too during the drop', () => {
    const { thread, subscribe, sent } = liveThread();
    subscribe();
    const ends: string[] = [];
    thread.on('run-end', (end) => ends.push(`${end.runId}:${end.reason}`));
    thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'r1' });
    thread.disconnected();
    thread.connected();
    expect(sent.at(-1)?.frame).toMatchObject({ type: 'subscribe', runId: 'r1' });
    // r1 and then r2 ended while away: the last run-end is r2's, `runEnd` is r1's.
    const runEnd = { type: 'run-end', threadId: 't', runId: 'r1', reason: 'failed' } as const;
    const lastRunEnd = { type: 'run-end', threadId: 't', runId: 'r2', reason: 'terminated' } as const;
    subscribe({ recovered: true, cursor: 'e.0', backlog: 0, lastRunEnd, runEnd });
    expect(ends).toEqual(['r1:failed']);
    expect(thread.run).toBeNull();
    expect(thread.lastRunEnd).toEqual(lastRunEnd);
    // No run was active at this drop: the next subscribe names none.
    thread.disconnected();
    thread.connected();
    expect(sent.at(-1)?.frame).not.toHaveProperty('runId');
    subscribe({ recovered: true, cursor: 'e.0', backlog: 0, lastRunEnd, runEnd });
    expect(ends).toEqual(['r1:failed']);
  });

  it('a run still going at the re-subscribe is restated, not ended', () => {
    const { thread, subscribe } = liveThread();
    subscribe();
    const ends: string[] = [];
    thread.on('run-end', (end) => ends.push(end.runId));
    thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'r2' });
    thread.disconnected();
    thread.connected();
    subscribe({
      recovered: true,
      cursor: 'e.0',
      backlog: 0,
      lastRunEnd: { type: 'run-end', threadId: 't', runId: 'r1', reason: 'terminated' },
    });
    thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'r2' });
    expect(ends).toEqual([]);
    expect(thread.run).toEqual({ runId: 'r2' });
  });

  it('starts the subscription over from its cursor when a delta skips a seq', () => {
    const { thread, subscribe, sent, answer } = liveThread();
    subscribe();
    thread.handleEvent({
      type: 'message',
      threadId: 't',
      cursor: 'e.1',
      message: message('u1', { role: 'user' }),
    });
    startMessage(thread, 'a1');
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'a1', seq: 1, text: 'a' });
    const errors: string[] = [];
    thread.on('error', (error) => errors.push(error.code));
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'a1', seq: 3, text: 'c' });
    expect(errors).toEqual(['protocol']);
    expect(thread.status).toBe('subscribing');
    // Events until the new `subscribed` are not applied.
    thread.handleEvent({ type: 'message-delta', threadId: 't', messageId: 'a1', seq: 4, text: 'd' });
    expect(thread.streaming[0]?.text).toBe('a');
    expect(sent.map((entry) => entry.frame.type)).toEqual(['unsubscribe']);
    answer('unsubscribe', { type: 'unsubscribed', requestId: 'r', threadId: 't' });
    return Promise.resolve().then(() => {
      expect(sent.map((entry) => entry.frame)).toEqual([{ type: 'subscribe', threadId: 't', cursor: 'e.1' }]);
      subscribe({ recovered: true, cursor: 'e.1' });
      thread.handleEvent({ type: 'run-start', threadId: 't', runId: 'run' });
      startMessage(thread, 'a1');
      thread.handleEvent({
        type: 'message-delta',
        threadId: 't',
        messageId: 'a1',
        seq: 4,
        snapshot: true,
        text: 'abcd',
      });
      expect(thread.streaming.map((item) => [item.text, item.stale])).toEqual([['abcd', false]]);
    });
  });

  it('rebuilds on recovered: false and keeps each message shown once', () => {
    const { thread, subscribe } = liveThread({ cursor: 'old.9' });
    expect(thread.hasOlder).toBe(true);
    const shown: string[] = [];
    thread.on('text', ({ item, start, end }) => shown.push(`${item.id}:${start}:${end}`));
    const resets: number[] = [];
    thread.on('reset', ({ backlog }) => resets.push(backlog));
    subscribe({ recovered: false, cursor: 'e.2', backlog: 2, truncated: true });
    thread.handleEvent({ type: 'message', threadId: 't', cursor: 'e.1', message: message('x') });
    thread.handleEvent({ type: 'message', threadId: 't', cursor: 'e.2', message: message('y') });
    expect(resets).toEqual([2]);
    expect(thread.messages.map((item) => item.id)).toEqual(['x', 'y']);
    expect(thread.hasOlder).toBe(true);
    expect(thread.cursor).toBe('e.2');
    expect(shown).toEqual(['x:true:true', 'y:true:true']);
  });

  it('takes subscribed.cursor as the resume point only once the backlog has come', () => {
    const { thread, subscribe } = liveThread({ cursor: 'e.1' });
    subscribe({ recovered: true, cursor: 'e.3', backlog: 2 });
    expect(thread.cursor).toBe('e.1');
    thread.handleEvent({ type: 'message', threadId: 't', cursor: 'e.2', message: message('b') });
    expect(thread.cursor).toBe('e.2');
    thread.handleEvent({ type: 'message', threadId: 't', cursor: 'e.3', message: message('c') });
    expect(thread.cursor).toBe('e.3');
  });
});
