// Story: two viewers watch one thread while a team of agents answers a post. Both see the same
// frames in the same order; each message streams as deltas that add up to its stored text; the
// history holds exactly what they saw and pages oldest first.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
  transcript,
} from './thread-frames.ts';

describe('fan-out to the viewers of a thread', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('gives two viewers identical frames for a run of several agents, and history holds what they saw', async () => {
    const alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
    const bob = await connect(server.wsUrl, { hello: { user: 'bob' } });
    clients.push(alice, bob);
    const threadId = await createThread(alice);
    const aliceJoin = await subscribe(alice, threadId);
    const bobJoin = await subscribe(bob, threadId);
    expect(aliceJoin.subscribed).toMatchObject({
      recovered: false,
      cursor: null,
      backlog: 0,
      truncated: false,
    });
    expect(bobJoin.subscribed).toMatchObject({
      recovered: false,
      cursor: null,
      backlog: 0,
      truncated: false,
    });

    const posted = await post(alice, threadId, 'Plan a picnic for twelve people');
    expect(posted).toMatchObject({ threadId, duplicate: false });

    const aliceFrames = await collectRun(alice);
    const bobFrames = await collectRun(bob);
    const aliceEvents = threadEvents(aliceFrames, threadId);
    const bobEvents = threadEvents(bobFrames, threadId);
    expect(bobEvents).toEqual(aliceEvents);

    // On the poster's socket the reply comes before the broadcast of its message.
    const postedIndex = alice.frames.indexOf(posted);
    const broadcastIndex = alice.frames.findIndex(
      (frame) => frame.type === 'message' && frame.message.id === posted.messageId,
    );
    expect(postedIndex).toBeGreaterThanOrEqual(0);
    expect(broadcastIndex).toBeGreaterThan(postedIndex);

    // The user message, then one run: run-start … run-end.
    const [first, second] = aliceEvents;
    expect(first).toMatchObject({
      type: 'message',
      cursor: posted.cursor,
      message: { id: posted.messageId, role: 'user', author: 'alice', status: 'completed' },
    });
    expect(second).toMatchObject({ type: 'run-start' });
    const runStart = aliceEvents.filter((event) => event.type === 'run-start');
    expect(runStart).toHaveLength(1);
    const runEnd = aliceEvents.at(-1);
    expect(runEnd).toMatchObject({
      type: 'run-end',
      runId: second?.type === 'run-start' ? second.runId : 'missing',
    });

    // Several agents speak, the author changes from one message to the next.
    const messages = streamedMessages(aliceEvents);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(new Set(messages.map((message) => message.agent)).size).toBeGreaterThanOrEqual(2);
    for (let index = 1; index < messages.length; index += 1) {
      expect(messages[index]!.agent).not.toBe(messages[index - 1]!.agent);
    }
    for (const message of messages) {
      expect(message.end, `message ${message.messageId} ended`).toBeDefined();
      expect(message.seqs.length).toBeGreaterThan(0);
      expect(message.seqs).toEqual(message.seqs.map((_, index) => index + 1));
      expect(message.end?.message).toMatchObject({
        id: message.messageId,
        role: 'assistant',
        author: message.agent,
        status: 'completed',
      });
    }
    expectDeltasAddUp(messages);

    // History: exactly the stored messages the viewers saw, same ids, texts, statuses and cursors.
    const seen = transcript(aliceFrames, threadId);
    expect(seen).toHaveLength(1 + messages.length);
    expect(await readHistory(bob, threadId)).toEqual(seen);
    expect(new Set(seen.map((entry) => entry.cursor)).size).toBe(seen.length);

    // Paging with `before`: the newest page first, each page oldest first, hasMore until the start.
    const newest = await bob.request({ type: 'history', threadId, limit: 3 }, 'history-page');
    expect(newest.hasMore).toBe(true);
    expect(newest.items.map((item) => item.message.id)).toEqual(seen.slice(-3).map((entry) => entry.id));
    const older = await bob.request(
      { type: 'history', threadId, limit: 3, before: newest.items[0]!.cursor },
      'history-page',
    );
    expect(older.items.map((item) => item.message.id)).toEqual(seen.slice(-6, -3).map((entry) => entry.id));
    expect(older.hasMore).toBe(seen.length > 6);
    expect(await readHistory(bob, threadId, 2)).toEqual(seen);
    const oldestPage = await bob.request(
      { type: 'history', threadId, limit: 2, before: seen[1]!.cursor },
      'history-page',
    );
    expect(oldestPage.items.map((item) => item.message.id)).toEqual([seen[0]!.id]);
    expect(oldestPage.hasMore).toBe(false);

    // A late joiner without a cursor gets the same messages as backlog.
    const carol = await connect(server.wsUrl, { hello: { user: 'carol' } });
    clients.push(carol);
    const carolJoin = await subscribe(carol, threadId);
    expect(carolJoin.subscribed).toMatchObject({
      recovered: false,
      backlog: seen.length,
      truncated: false,
      cursor: seen.at(-1)!.cursor,
    });
    expect(transcript(carolJoin.backlog, threadId)).toEqual(seen);
  });
});
