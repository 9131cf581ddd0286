// Story: a client that does not wait — it sends requests right behind its hello, and unsubscribes
// before its subscribe was answered. Every request still gets exactly one answer, in order.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { uniqueId } from './thread-frames.ts';

const SECRET = 'pipelining-secret-long-enough-for-hs256';

function participantToken(sub: string): Promise<string> {
  return new SignJWT({ role: 'participant', threads: ['*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

describe('pipelined requests', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await startServer({ CHORUS_AUTH_SECRET: SECRET });
  });
  afterAll(async () => {
    for (const client of clients) client.terminate().catch(() => undefined);
    await server.close();
  });

  it('answers requests sent right after hello, while the token is being verified, after welcome', async () => {
    const client = await connect(server.wsUrl, { hello: false });
    clients.push(client);
    const token = await participantToken('ada');
    const threadId = uniqueId('pipelined');
    client.send({ type: 'hello', protocol: 1, token });
    client.send({ type: 'create-thread', requestId: 'c1', threadId });
    client.send({ type: 'subscribe', requestId: 's1', threadId });
    await client.waitFor('subscribed', (frame) => frame.requestId === 's1');
    const types = client.frames.map((frame) => frame.type);
    expect(types.slice(0, 3)).toEqual(['welcome', 'thread-created', 'subscribed']);
    expect(client.frames.some((frame) => frame.type === 'error')).toBe(false);
  });

  it('answers a subscribe that an unsubscribe overtook with an error, never with silence', async () => {
    const client = await connect(server.wsUrl, { hello: false });
    clients.push(client);
    const token = await participantToken('grace');
    client.send({ type: 'hello', protocol: 1, token });
    await client.waitFor('welcome');
    const threadId = uniqueId('overtaken');
    await client.request({ type: 'create-thread', threadId });
    client.send({ type: 'subscribe', requestId: 's', threadId });
    client.send({ type: 'unsubscribe', requestId: 'u', threadId });
    const unsubscribed = await client.waitFor('unsubscribed', (frame) => frame.requestId === 'u');
    expect(unsubscribed.threadId).toBe(threadId);
    const answer = await client.find((frame) => 'requestId' in frame && frame.requestId === 's');
    // Either the subscribe completed before the unsubscribe was read, or it is refused: one answer.
    expect(['subscribed', 'error']).toContain(answer.type);
    if (answer.type === 'error') expect(answer.code).toBe('conflict');
  });
});
