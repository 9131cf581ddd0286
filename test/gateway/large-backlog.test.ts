// Story: a viewer comes back to a thread that grew by megabytes while it was away. Its backlog is
// far bigger than the slow-consumer bound, yet a client that reads normally receives all of it
// (the server paces it by the socket) and is not cut off; history pages that would not fit the
// bound are shortened and say `hasMore`, so paging still reaches every message.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nanoid } from 'nanoid';
import type { Message } from '../../src/protocol/frames.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import {
  collectRun,
  createThread,
  post,
  readHistory,
  subscribe,
  transcript,
  type TranscriptEntry,
} from './thread-frames.ts';

const MESSAGES = 200;
/** 200 messages of ~30 KB: about 6 MB, more than loopback TCP buffers absorb in one burst. */
const TEXT = 'backlog '.repeat(3800);

describe('a backlog bigger than the send bound', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer({
      CHORUS_BACKLOG_LIMIT: '1000',
      CHORUS_MAX_BUFFERED_BYTES: '262144',
      CHORUS_MAX_ITERATIONS: '2',
      // These tests page through thousands of messages from one connection at once.
      CHORUS_REQUEST_RATE: '0',
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  /** Seeds the thread's history directly in the store (setup, not the behaviour under test). */
  async function seed(threadId: string): Promise<void> {
    for (let index = 0; index < MESSAGES; index += 1) {
      const message: Message = {
        id: nanoid(16),
        role: 'user',
        author: 'archive',
        text: `${index}: ${TEXT}`,
        status: 'completed',
        createdAt: new Date().toISOString(),
      };
      await server.app.store.importMessages(threadId, [message]);
    }
  }

  it('delivers the whole backlog to a joiner and a resumer, then live frames, without cutting them off', async () => {
    const owner = await connect(server.wsUrl, { hello: { user: 'owner' } });
    clients.push(owner);
    const threadId = await createThread(owner);
    await seed(threadId);
    const stored = await readHistory(owner, threadId, 200);
    expect(stored).toHaveLength(MESSAGES);

    const joiner = await connect(server.wsUrl, { hello: { user: 'joiner' } });
    const resumer = await connect(server.wsUrl, { hello: { user: 'resumer' } });
    clients.push(joiner, resumer);
    const [joined, resumed] = await Promise.all([
      subscribe(joiner, threadId),
      subscribe(resumer, threadId, stored[0]!.cursor),
    ]);
    expect(joined.subscribed).toMatchObject({ recovered: false, truncated: false, backlog: MESSAGES });
    expect(transcript(joined.backlog, threadId)).toEqual(stored);
    expect(resumed.subscribed).toMatchObject({ recovered: true, backlog: MESSAGES - 1 });
    expect(transcript(resumed.backlog, threadId)).toEqual(stored.slice(1));

    // Live delivery continues normally after the backlog.
    const posted = await post(owner, threadId, 'And now something live');
    const runs = await Promise.all([
      collectRun(joiner, undefined, 10_000),
      collectRun(resumer, undefined, 10_000),
    ]);
    for (const [index, client] of [joiner, resumer].entries()) {
      expect(transcript(runs[index]!, threadId)[0]?.id).toBe(posted.messageId);
      expect(client.isOpen).toBe(true);
    }
    expect(transcript(joiner.frames, threadId)).toEqual(await readHistory(owner, threadId, 200));
  });

  it('shortens a history page that would not fit the bound and keeps paging to the oldest message', async () => {
    const owner = await connect(server.wsUrl, { hello: { user: 'owner' } });
    clients.push(owner);
    const threadId = await createThread(owner);
    await seed(threadId);

    const page = await owner.request({ type: 'history', threadId, limit: 200 }, 'history-page');
    expect(page.items.length).toBeGreaterThan(0);
    expect(page.items.length).toBeLessThan(MESSAGES);
    expect(page.hasMore).toBe(true);
    // The newest messages, oldest first.
    expect(page.items.at(-1)?.message.text.startsWith(`${MESSAGES - 1}: `)).toBe(true);
    const all: TranscriptEntry[] = await readHistory(owner, threadId, 200);
    expect(all.map((entry) => Number(entry.text.split(':')[0]))).toEqual(
      Array.from({ length: MESSAGES }, (_, index) => index),
    );
    expect(owner.isOpen).toBe(true);
  });
});
