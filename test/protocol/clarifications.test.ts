// What protocol.md states for clients written from it alone (the points a client in another
// language had to guess), held against the codec and a running server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeClientFrame } from '../../src/protocol/codec.ts';
import { createThread, post, subscribe } from '../gateway/thread-frames.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';

const decode = (value: unknown) => decodeClientFrame(JSON.stringify(value));
const emoji = (count: number) => '😀'.repeat(count);

describe('string bounds count code points', () => {
  it('accepts 64 emoji as a user name (128 UTF-16 units) and refuses 65 as too-large', () => {
    expect(decode({ type: 'hello', protocol: 1, user: emoji(64) }).ok).toBe(true);
    expect(decode({ type: 'hello', protocol: 1, user: emoji(65) })).toMatchObject({
      ok: false,
      code: 'too-large',
    });
  });

  it('bounds post text at 32768 code points', () => {
    const frame = { type: 'post', requestId: 'r', threadId: 't', clientMessageId: 'c' };
    expect(decode({ ...frame, text: emoji(32_768) }).ok).toBe(true);
    expect(decode({ ...frame, text: emoji(32_769) })).toMatchObject({
      ok: false,
      code: 'too-large',
      requestId: 'r',
    });
  });

  it('answers a metadata key over 64 characters with too-large', () => {
    const result = decode({ type: 'create-thread', requestId: 'r', metadata: { ['k'.repeat(65)]: 'v' } });
    expect(result).toMatchObject({ ok: false, code: 'too-large', requestId: 'r' });
  });

  it('gets bad-frame for a number below its minimum and for an empty string', () => {
    expect(decode({ type: 'history', requestId: 'r', threadId: 't', limit: 0 })).toMatchObject({
      code: 'bad-frame',
    });
    expect(decode({ type: 'history', requestId: 'r', threadId: 't', limit: 1001 })).toMatchObject({
      code: 'too-large',
    });
    expect(
      decode({ type: 'post', requestId: 'r', threadId: 't', clientMessageId: 'c', text: '' }),
    ).toMatchObject({
      code: 'bad-frame',
    });
  });

  it('echoes a requestId only when it is one (1–128 characters)', () => {
    const empty = decode({ type: 'what', requestId: '' });
    expect(empty).toMatchObject({ ok: false, code: 'unknown-type' });
    expect(empty).not.toHaveProperty('requestId');
    expect(decode({ type: 'what', requestId: emoji(128) })).toMatchObject({ requestId: emoji(128) });
    expect(decode({ type: 'what', requestId: emoji(129) })).not.toHaveProperty('requestId');
  });
});

describe('the handshake and requests as protocol.md states them', () => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const open = async (hello: { user?: string } | false = {}) => {
    const client = await connect(server.wsUrl, { hello });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer({ CHORUS_DEMO_TOKENS_PER_SECOND: '0' });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server.close();
  });

  it('answers a hello of another version with incompatible (its requestId echoed), whatever else it holds', async () => {
    const future = await open(false);
    future.send({ type: 'hello', protocol: 2, requestId: 'h', capabilities: ['everything'] });
    expect(await future.waitFor('incompatible')).toMatchObject({ requestId: 'h' });
    expect((await future.closed).code).toBe(4502);
  });

  it('answers a hello whose protocol is the string "1" with bad-frame, and the handshake can go on', async () => {
    const client = await open(false);
    const refused = await client.request({ type: 'hello', protocol: '1' }, 'error');
    expect(refused.code).toBe('bad-frame');
    expect(await client.request({ type: 'hello', protocol: 1 }, 'welcome')).toMatchObject({ protocol: 1 });
  });

  it('ignores an unknown team for a thread that exists; refuses it for a new one', async () => {
    const client = await open();
    const threadId = await createThread(client);
    const again = await client.request(
      { type: 'create-thread', threadId, team: 'no-such-team' },
      'thread-created',
    );
    expect(again).toMatchObject({ threadId, existing: true, team: 'demo' });
    const fresh = await client.request(
      { type: 'create-thread', threadId: `${threadId}-new`, team: 'no-such-team' },
      'error',
    );
    expect(fresh.code).toBe('not-found');
  });

  it('answers unsubscribe of a thread it never subscribed (or that does not exist) with unsubscribed', async () => {
    const client = await open();
    expect(
      await client.request({ type: 'unsubscribe', threadId: 'never-was' }, 'unsubscribed'),
    ).toMatchObject({
      threadId: 'never-was',
    });
  });

  it('answers a retried post — same clientMessageId, other text — duplicate, queued false, the first text kept', async () => {
    const client = await open({ user: 'ada' });
    const threadId = await createThread(client);
    await subscribe(client, threadId);
    const first = await post(client, threadId, 'the first text', 'same-id');
    expect(first).toMatchObject({ duplicate: false, queued: false });
    const retry = await post(client, threadId, 'another text', 'same-id');
    expect(retry).toMatchObject({
      duplicate: true,
      queued: false,
      messageId: first.messageId,
      cursor: first.cursor,
    });
    const page = await client.request({ type: 'history', threadId }, 'history-page');
    const posts = page.items.filter((item) => item.message.clientMessageId === 'same-id');
    expect(posts.map((item) => item.message.text)).toEqual(['the first text']);
  });
});
