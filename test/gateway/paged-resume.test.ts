// Story: a viewer comes back after 10,000 messages. The server reads what it missed in pages (never
// the whole gap in one store reply), sends all of it exactly once and in order, and a client that
// subscribes and unsubscribes in a loop with an old cursor stops each read as soon as it leaves.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/protocol/frames.ts';
import { RESUME_PAGE } from '../../src/gateway/backlog.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { createThread, subscribe } from './thread-frames.ts';

const GAP = 10_000;

describe('resume over a long gap', () => {
  let server: TestServer;
  let faults: FaultyStore;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer(
      {},
      {
        wrapStore: (store) => {
          faults = new FaultyStore(store);
          return faults.store;
        },
      },
    );
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  async function seeded(): Promise<{ threadId: string; cursor: string }> {
    const owner = await connect(server.wsUrl);
    clients.push(owner);
    const threadId = await createThread(owner);
    let first: string | undefined;
    for (let from = 0; from <= GAP; from += 1000) {
      const messages: Message[] = [];
      for (let index = from; index < Math.min(from + 1000, GAP + 1); index += 1) {
        messages.push({
          id: `m-${index}`,
          role: 'user',
          author: 'archive',
          text: `message ${index}`,
          status: 'completed',
          createdAt: new Date().toISOString(),
        });
      }
      const items = await server.app.store.importMessages(threadId, messages);
      first ??= items[0]?.cursor;
    }
    if (!first) throw new Error('nothing imported');
    return { threadId, cursor: first };
  }

  it(`reads a ${GAP}-message gap in pages of ${RESUME_PAGE} and sends every message once, in order`, async () => {
    const { threadId, cursor } = await seeded();
    const viewer = await connect(server.wsUrl);
    clients.push(viewer);
    const readsBefore = faults.calls.filter((call) => call === 'readAfter').length;
    const { subscribed, backlog } = await subscribe(viewer, threadId, cursor);
    expect(subscribed).toMatchObject({ recovered: true, backlog: GAP });
    expect(backlog.map((frame) => frame.message.id)).toEqual(
      Array.from({ length: GAP }, (_, index) => `m-${index + 1}`),
    );
    expect(subscribed.cursor).toBe(backlog.at(-1)?.cursor);
    const reads = faults.calls.filter((call) => call === 'readAfter').length - readsBefore;
    expect(reads).toBe(GAP / RESUME_PAGE);
  });

  it('stops reading the backlog of a subscription the client left, and keeps nothing of it', async () => {
    const { threadId, cursor } = await seeded();
    const looper = await connect(server.wsUrl);
    clients.push(looper);
    const readsBefore = faults.calls.filter((call) => call === 'readAfter').length;
    for (let round = 0; round < 20; round += 1) {
      looper.send({ type: 'subscribe', requestId: `s-${round}`, threadId, cursor });
      await looper.waitFor('subscribed', (frame) => frame.requestId === `s-${round}`, 10_000);
      await looper.request({ type: 'unsubscribe', threadId }, 'unsubscribed');
    }
    const reads = faults.calls.filter((call) => call === 'readAfter').length - readsBefore;
    // Each round reads its first page and at most a few more before it sees it was left.
    expect(reads).toBeLessThan(20 * 5);
    // Nothing of the thread stays with the connection or the hub.
    const probe = await connect(server.wsUrl);
    clients.push(probe);
    await looper.request({ type: 'ping' }, 'pong');
    expect(server.app.metrics.registry.getSingleMetric('chorus_subscriptions')).toBeDefined();
    const subscriptions = await server.app.metrics.registry.getSingleMetricAsString('chorus_subscriptions');
    expect(subscriptions).toMatch(/chorus_subscriptions(\{[^}]*\})? 0$/m);
  });
});
