// Story: a participant's network hiccups and its client retries a post with the same
// clientMessageId. The message is stored once; the retry is answered `duplicate: true` with the
// same messageId and cursor, and nobody sees it twice.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import {
  collectRun,
  createThread,
  post,
  readHistory,
  subscribe,
  transcript,
  uniqueId,
} from './thread-frames.ts';

describe('idempotent posts', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('stores a retried post once and answers the retry duplicate: true with the same id and cursor', async () => {
    const alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
    const viewer = await connect(server.wsUrl, { hello: { user: 'viewer' } });
    clients.push(alice, viewer);
    const threadId = await createThread(alice);
    await subscribe(viewer, threadId);
    const clientMessageId = uniqueId('retry');

    const first = await post(alice, threadId, 'Book a table for four', clientMessageId);
    expect(first.duplicate).toBe(false);
    // The retry, on the same connection, then from a new connection (the client reconnected).
    const again = await post(alice, threadId, 'Book a table for four', clientMessageId);
    const alice2 = await connect(server.wsUrl, { hello: { user: 'alice' } });
    clients.push(alice2);
    const fromNewConnection = await post(alice2, threadId, 'Book a table for four', clientMessageId);
    for (const retry of [again, fromNewConnection]) {
      expect(retry).toMatchObject({
        threadId,
        duplicate: true,
        messageId: first.messageId,
        cursor: first.cursor,
      });
    }

    // The run the post triggered ends; the viewer saw the user message once, history holds one copy.
    const run = await collectRun(viewer);
    const userMessages = transcript(viewer.frames, threadId).filter((entry) => entry.role === 'user');
    expect(userMessages.map((entry) => entry.id)).toEqual([first.messageId]);
    const history = await readHistory(alice, threadId);
    expect(history.filter((entry) => entry.id === first.messageId)).toHaveLength(1);
    expect(history.filter((entry) => entry.role === 'user')).toHaveLength(1);
    expect(history[0]).toMatchObject({
      id: first.messageId,
      cursor: first.cursor,
      text: 'Book a table for four',
    });
    // Only one run: the duplicates did not queue another.
    expect(run.filter((frame) => frame.type === 'run-start')).toHaveLength(1);
    // A ping round trip on the viewer's socket: a second run would have started by its pong.
    await viewer.request({ type: 'ping' }, 'pong');
    expect(viewer.frames.filter((frame) => frame.type === 'run-start')).toHaveLength(1);

    // A new clientMessageId is a new message.
    const other = await post(alice, threadId, 'And a cake', uniqueId('other'));
    expect(other.duplicate).toBe(false);
    expect(other.messageId).not.toBe(first.messageId);
  });
});
