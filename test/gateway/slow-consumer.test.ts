// Story: one viewer stops reading (a frozen tab, a stalled phone) while a run streams and the
// thread is busy. The server cuts it off with 4008 once its unsent bytes would pass
// CHORUS_MAX_BUFFERED_BYTES — they never do — while the other viewer receives everything.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionClosing } from '../../src/gateway/context.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import {
  collectRun,
  createThread,
  expectDeltasAddUp,
  post,
  readHistory,
  streamedMessages,
  subscribe,
  threadEvents,
  uniqueId,
} from './thread-frames.ts';

const MAX_BUFFERED_BYTES = 16_384;
/** Posts big enough to fill the kernel's socket buffers quickly, small enough to fit the bound. */
const POST_TEXT = 'lörem ipsüm '.repeat(800);
/** Failure bound on the flood: far more than loopback TCP buffers hold (a few MB). */
const MAX_POSTS = 2000;
const BATCH = 20;

describe('a slow consumer', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer({
      CHORUS_MAX_BUFFERED_BYTES: String(MAX_BUFFERED_BYTES),
      CHORUS_POST_RATE: '0',
      CHORUS_QUEUE_MAX: '1000',
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('is closed with 4008 within the buffer bound while the other viewer gets the whole run', async () => {
    const alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
    const stalled = await connect(server.wsUrl, { hello: { user: 'stalled' } });
    clients.push(alice, stalled);
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(stalled, threadId);
    const stalledSession = stalled.welcome!.sessionId;
    const closings: ConnectionClosing[] = [];
    let cutOff: ConnectionClosing | undefined;
    server.app.gatewayEvents.on('connection-closing', (event) => {
      closings.push(event);
      if (event.sessionId !== stalledSession) return;
      cutOff = event;
      // Read again at once: the server gives a peer that does not read only a short grace to
      // take the rest of its data and the close frame.
      stalled.resume();
    });

    stalled.pause();
    const trigger = await post(alice, threadId, 'Plan the flood test');
    const runStart = await alice.waitFor('run-start');
    // Keep the thread busy until the stalled viewer is cut off: every post is broadcast to it.
    const posted: string[] = [trigger.messageId];
    while (!cutOff) {
      if (posted.length >= MAX_POSTS) {
        throw new Error(`the stalled viewer was not cut off after ${posted.length} posts`);
      }
      const batch = Array.from({ length: BATCH }, () => post(alice, threadId, POST_TEXT, uniqueId('flood')));
      for (const reply of await Promise.all(batch)) posted.push(reply.messageId);
    }
    const closing = cutOff;

    expect(closing).toMatchObject({ code: 4008, reason: 'slow consumer' });
    // The bound held (close frame included) and was approached: the stall was real.
    expect(closing.sendBufferPeak).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    expect(closing.sendBufferPeak).toBeGreaterThan(MAX_BUFFERED_BYTES - Buffer.byteLength(POST_TEXT) - 1024);
    expect(await stalled.waitForClose(10_000)).toMatchObject({ code: 4008 });

    // Alice: the whole first run and every post (pipelined posts may be stored in any order).
    const aliceRun = await collectRun(alice, runStart.runId, 20_000);
    const messages = streamedMessages(threadEvents(aliceRun, threadId));
    expect(messages.length).toBeGreaterThanOrEqual(2);
    for (const message of messages) expect(message.end?.message.status).toBe('completed');
    expectDeltasAddUp(messages);
    await alice.request({ type: 'ping' }, 'pong');
    const aliceUserMessages = threadEvents(alice.frames, threadId).filter(
      (frame) => frame.type === 'message',
    );
    const aliceIds = aliceUserMessages.map((frame) => frame.message.id);
    expect(aliceIds).toHaveLength(posted.length);
    expect(new Set(aliceIds)).toEqual(new Set(posted));
    expect(alice.isOpen).toBe(true);
    expect(closings.filter((event) => event.sessionId === alice.welcome!.sessionId)).toEqual([]);

    // What the stalled viewer did receive is an exact prefix of Alice's stream: no gap, no reorder.
    const stalledEvents = threadEvents(stalled.frames, threadId);
    expect(stalledEvents.length).toBeGreaterThan(0);
    expect(stalledEvents).toEqual(threadEvents(alice.frames, threadId).slice(0, stalledEvents.length));
  });

  it('sends a message bigger than the bound to viewers that read, live, as backlog and in history', async () => {
    // 24,000 characters (the post limit is 32,768): some 28 KB as a frame, over the 16 KB bound.
    const big = 'lörem ipsüm '.repeat(2000);
    const alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
    const bob = await connect(server.wsUrl, { hello: { user: 'bob' } });
    clients.push(alice, bob);
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    const { messageId } = await post(alice, threadId, big);
    // It used to close both with 4008 (and every later subscriber), though neither was slow.
    for (const viewer of [alice, bob]) {
      const shown = await viewer.waitFor('message', (frame) => frame.message.id === messageId, 5000);
      expect(shown.message.text).toBe(big);
      await viewer.waitFor('run-end', () => true, 15_000);
      expect(viewer.isOpen).toBe(true);
    }
    const later = await connect(server.wsUrl, { hello: { user: 'carol' } });
    clients.push(later);
    const { backlog } = await subscribe(later, threadId);
    expect(backlog.map((frame) => frame.message.text)).toContain(big);
    // History pages hold half the bound: the big message comes on a page of its own.
    const history = await readHistory(later, threadId);
    expect(history.map((message) => message.text)).toContain(big);
    await later.request({ type: 'ping' }, 'pong');
    expect(later.isOpen).toBe(true);
  });
});
