// Story: one client tries to take more than its share. Posts beyond the rate (token bucket of
// CHORUS_POST_RATE per second, CHORUS_POST_BURST deep) are refused `rate-limited` with a retry
// hint; subscriptions beyond CHORUS_MAX_SUBSCRIPTIONS per connection are refused `limit-exceeded`.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Frame, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { createThread, subscribe, uniqueId } from './thread-frames.ts';

describe('per-connection limits', () => {
  let server: TestServer | undefined;
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server?.close();
  });

  it('refuses a post beyond the burst with rate-limited and retryAfterMs', async () => {
    server = await startServer({ CHORUS_POST_RATE: '1', CHORUS_POST_BURST: '2' });
    const alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
    const bob = await connect(server.wsUrl, { hello: { user: 'bob' } });
    clients.push(alice, bob);
    const threadId = await createThread(alice);

    const answers: Frame[] = await Promise.all(
      [1, 2, 3].map((index) =>
        alice.request({ type: 'post', threadId, clientMessageId: uniqueId('burst'), text: `post ${index}` }),
      ),
    );
    expect(answers.map((answer) => answer.type)).toEqual(['posted', 'posted', 'error']);
    const limited = answers[2]!;
    expect(limited).toMatchObject({ type: 'error', code: 'rate-limited', retryable: true, threadId });
    if (limited.type !== 'error') throw new Error('unreachable');
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(1000);

    // The bucket is per connection: another client posts at once.
    expect(
      await bob.request({ type: 'post', threadId, clientMessageId: uniqueId('bob'), text: 'mine' }),
    ).toMatchObject({ type: 'posted' });
    const history = await bob.request({ type: 'history', threadId }, 'history-page');
    expect(
      history.items.filter((item) => item.message.role === 'user').map((item) => item.message.text),
    ).toEqual(['post 1', 'post 2', 'mine']);
  });

  it('refuses a subscription beyond the limit with limit-exceeded', async () => {
    // The cap, not the subscribe rate (whose bucket is only CHORUS_MAX_SUBSCRIPTIONS deep here).
    server = await startServer({ CHORUS_MAX_SUBSCRIPTIONS: '2', CHORUS_SUBSCRIBE_RATE: '0' });
    const client = await connect(server.wsUrl, { hello: { user: 'alice' } });
    clients.push(client);
    expect(client.welcome?.limits?.maxSubscriptions).toBe(2);
    const [first, second, third] = [
      await createThread(client),
      await createThread(client),
      await createThread(client),
    ];
    await subscribe(client, first!);
    await subscribe(client, second!);
    expect(await client.request({ type: 'subscribe', threadId: third })).toMatchObject({
      type: 'error',
      code: 'limit-exceeded',
      threadId: third,
    });
    // Unsubscribing frees a slot.
    expect(await client.request({ type: 'unsubscribe', threadId: first }, 'unsubscribed')).toMatchObject({
      threadId: first,
    });
    const { subscribed } = await subscribe(client, third!);
    expect(subscribed.threadId).toBe(third);
  });
});
