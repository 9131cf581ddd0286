// Story: SSE viewers of a thread. One follows a whole run live; another drops mid-run and comes
// back with its Last-Event-ID (the cursor of the last finished message it got): it gets every
// finished message it missed once, the in-flight message as a snapshot, then live — together
// exactly the stored history, with each message's text adding up. Heartbeat comments keep an
// idle stream alive.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uniqueId } from '../gateway/thread-frames.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { request, SseReader, type SseEvent } from './http-client.ts';

type Frame = Record<string, unknown> & { type: string };

/** Slow enough that an agent message streams for 400–800 ms: a drop lands mid-message. */
const SLOW = {
  CHORUS_DEMO_TOKENS_PER_SECOND: '100',
  CHORUS_MAX_ITERATIONS: '3',
  CHORUS_SSE_HEARTBEAT_MS: '100',
};

describe('the SSE stream of a thread', () => {
  let server: TestServer;
  const readers: SseReader[] = [];
  const open = async (path: string, headers: Record<string, string> = {}) => {
    const reader = await SseReader.open(`${server.url}${path}`, headers);
    readers.push(reader);
    return reader;
  };

  beforeEach(async () => {
    server = await startServer(SLOW);
  });
  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    await server.close();
  });

  const createAndPost = async (threadId: string, text: string) => {
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const posted = await request(server.url, 'POST', `/v1/threads/${threadId}/messages`, {
      body: { text },
      headers: { 'idempotency-key': uniqueId('key') },
    });
    expect(posted.status).toBe(202);
  };

  const history = async (threadId: string) => {
    const page = await request(server.url, 'GET', `/v1/threads/${threadId}/messages?limit=200`);
    return (page.body as { items: Array<{ cursor: string; message: { id: string; text: string } }> }).items;
  };

  const frameOf = (event: SseEvent) => event.json as Frame;

  it('streams a whole run: each data a WebSocket frame, each id the newest finished cursor', async () => {
    const threadId = uniqueId('sse');
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const stream = await open(`/v1/threads/${threadId}/stream`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await stream.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    await request(server.url, 'POST', `/v1/threads/${threadId}/messages`, {
      body: { text: 'plan the launch' },
      headers: { 'idempotency-key': uniqueId('key') },
    });
    await stream.waitFor((event) => event.json?.type === 'run-end', 'run-end', 20_000);
    const frames = stream.events.map(frameOf);
    expect(frames[0]).toMatchObject({
      type: 'subscribed',
      threadId,
      recovered: false,
      cursor: null,
      backlog: 0,
    });
    expect(frames.map((frame) => frame.type)).toEqual(
      expect.arrayContaining([
        'message',
        'run-start',
        'message-start',
        'message-delta',
        'message-end',
        'run-end',
      ]),
    );
    // Every event has an id: the cursor of the newest finished message sent before or with it.
    let newest = '';
    for (const event of stream.events) {
      const frame = frameOf(event);
      if (frame.type === 'message' || frame.type === 'message-end') newest = frame.cursor as string;
      expect(event.id, `id of ${frame.type}`).toBe(newest);
    }
    const stored = await history(threadId);
    const finished = frames.filter((frame) => frame.type === 'message' || frame.type === 'message-end');
    expect(finished.map((frame) => [frame.cursor, frame.message])).toEqual(
      stored.map((item) => [item.cursor, item.message]),
    );
  });

  it('a stream that drops mid-run resumes with Last-Event-ID: no gap, no finished message twice', async () => {
    const threadId = uniqueId('sse');
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const reference = await open(`/v1/threads/${threadId}/stream`);
    const first = await open(`/v1/threads/${threadId}/stream`);
    await first.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    await createAndPost(threadId, 'plan the launch');
    // Drop after the first agent message ended and the next one has streamed a little.
    const firstEnd = await first.waitFor(
      (event) => event.json?.type === 'message-end',
      'a message-end',
      20_000,
    );
    const endIndex = first.events.indexOf(firstEnd);
    await first.waitFor(
      (event) => first.events.indexOf(event) > endIndex && event.json?.type === 'message-delta',
      'a delta of the next message',
      20_000,
    );
    first.close();
    await first.waitForEnd();
    const before = [...first.events];
    const lastEventId = before.at(-1)!.id!;
    expect(lastEventId).toBe(firstEnd.json?.cursor);
    // Miss a whole message: reconnect once the reference saw one more message end.
    const endsSeen = reference.frames.filter((frame) => frame.type === 'message-end').length;
    await reference.waitFor(
      () => reference.frames.filter((frame) => frame.type === 'message-end').length > endsSeen,
      'one more message-end on the reference stream',
      20_000,
    );
    const resumed = await open(`/v1/threads/${threadId}/stream`, { 'last-event-id': lastEventId });
    await resumed.waitFor((event) => event.json?.type === 'run-end', 'run-end after the resume', 30_000);
    const frames = resumed.events.map(frameOf);
    expect(frames[0]).toMatchObject({ type: 'subscribed', recovered: true });
    expect(resumed.events[0]!.id).toBe(lastEventId);
    expect(frames.filter((frame) => frame.type === 'message').length).toBeGreaterThanOrEqual(1);

    // Finished messages over both connections are the stored history, each once, in order.
    const finished = [...before.map(frameOf), ...frames].filter(
      (frame) => frame.type === 'message' || frame.type === 'message-end',
    );
    const stored = await history(threadId);
    expect(finished.map((frame) => (frame.message as { id: string }).id)).toEqual(
      stored.map((item) => item.message.id),
    );
    // Each agent message streamed after the resume adds up: snapshot (or start) plus deltas.
    for (const end of frames.filter((frame) => frame.type === 'message-end')) {
      const messageId = end.messageId as string;
      const deltas = frames.filter(
        (frame) => frame.type === 'message-delta' && frame.messageId === messageId,
      );
      const lastSnapshot = deltas.findLastIndex((frame) => frame.snapshot === true);
      const text = deltas
        .slice(Math.max(0, lastSnapshot))
        .map((frame) => (frame.text as string | undefined) ?? '')
        .join('');
      const seqs = deltas.slice(Math.max(0, lastSnapshot)).map((frame) => frame.seq as number);
      expect(seqs, `seqs of ${messageId}`).toEqual(seqs.map((_, index) => seqs[0]! + index));
      expect(text, `text of ${messageId}`).toBe((end.message as { text: string }).text);
    }
  });

  it('?cursor= resumes as Last-Event-ID does; an unknown cursor is recovered: false', async () => {
    const threadId = uniqueId('sse');
    await createAndPost(threadId, 'hello');
    const watcher = await open(`/v1/threads/${threadId}/stream`);
    await watcher.waitFor((event) => event.json?.type === 'run-end', 'run-end', 20_000);
    const stored = await history(threadId);
    const resumed = await open(
      `/v1/threads/${threadId}/stream?cursor=${encodeURIComponent(stored[0]!.cursor)}`,
    );
    const subscribed = await resumed.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    expect(subscribed.json).toMatchObject({ recovered: true, backlog: stored.length - 1 });
    await resumed.waitFor(() => resumed.frames.length >= stored.length, 'the backlog');
    expect(resumed.frames.slice(1).map((frame) => frame.cursor)).toEqual(
      stored.slice(1).map((item) => item.cursor),
    );
    const unknown = await open(`/v1/threads/${threadId}/stream`, { 'last-event-id': 'nope.1' });
    const refused = await unknown.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    expect(refused.json).toMatchObject({ recovered: false, backlog: stored.length });
    expect(refused.id).toBe('');
  });

  it('sends heartbeat comments every CHORUS_SSE_HEARTBEAT_MS', async () => {
    const threadId = uniqueId('sse');
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const stream = await open(`/v1/threads/${threadId}/stream`);
    await expect(stream.waitForComment('a heartbeat comment', 3000)).resolves.toBe('heartbeat');
  });

  it('ends the stream when the thread is deleted', async () => {
    const threadId = uniqueId('sse');
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const stream = await open(`/v1/threads/${threadId}/stream`);
    await stream.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    await request(server.url, 'DELETE', `/v1/threads/${threadId}`);
    await stream.waitFor((event) => event.json?.type === 'thread-deleted', 'thread-deleted');
    await stream.waitForEnd();
  });

  it('sends a message bigger than CHORUS_MAX_BUFFERED_BYTES to a stream that reads, live and as backlog', async () => {
    const bounded = await startServer({ CHORUS_MAX_BUFFERED_BYTES: '16384', CHORUS_POST_RATE: '0' });
    const openOn = async (path: string) => {
      const reader = await SseReader.open(`${bounded.url}${path}`, {});
      readers.push(reader);
      return reader;
    };
    try {
      const threadId = uniqueId('sse-big');
      await request(bounded.url, 'POST', '/v1/threads', { body: { threadId } });
      const live = await openOn(`/v1/threads/${threadId}/stream`);
      await live.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
      // Some 28 KB as one frame, over the 16 KB bound: it used to end every stream of the thread.
      const big = 'lörem ipsüm '.repeat(2000);
      const posted = await request(bounded.url, 'POST', `/v1/threads/${threadId}/messages`, {
        body: { text: big },
        headers: { 'idempotency-key': uniqueId('key') },
      });
      expect(posted.status).toBe(202);
      const shown = await live.waitFor(
        (event) =>
          event.json?.type === 'message' && (frameOf(event).message as { text: string }).text === big,
        'the big message live',
      );
      expect(shown).toBeDefined();
      await live.waitFor((event) => event.json?.type === 'run-end', 'run-end', 20_000);
      expect(live.closed).toBe(false);
      const later = await openOn(`/v1/threads/${threadId}/stream`);
      await later.waitFor(
        (event) =>
          event.json?.type === 'message' && (frameOf(event).message as { text: string }).text === big,
        'the big message as backlog',
      );
      expect(later.closed).toBe(false);
    } finally {
      for (const reader of readers.splice(0)) reader.close();
      await bounded.close();
    }
  });
});
