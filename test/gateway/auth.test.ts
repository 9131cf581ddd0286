// Story: Chorus runs with signed tokens (HS256). Without a valid token nobody gets in; an expired
// token is told to refresh; a viewer token watches but cannot post; a token scoped to some threads
// cannot open others; the token's subject is the author of what its holder posts.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { createThread, post, subscribe, uniqueId } from './thread-frames.ts';

const SECRET = 'test-secret-that-is-long-enough-for-hs256';

interface Claims {
  sub?: string;
  /** Default participant (a token without role is a viewer). */
  role?: 'viewer' | 'participant';
  /** Default `["*"]` (the claim is required). */
  threads?: string[];
  /** Seconds from now (negative: already expired; fractions allowed: exp is a NumericDate). */
  expiresIn?: number;
  secret?: string;
}

async function token(claims: Claims = {}): Promise<string> {
  const payload: Record<string, unknown> = {
    role: claims.role ?? 'participant',
    threads: claims.threads ?? ['*'],
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setSubject(claims.sub ?? 'someone')
    .setExpirationTime(Date.now() / 1000 + (claims.expiresIn ?? 3600))
    .sign(new TextEncoder().encode(claims.secret ?? SECRET));
}

describe('authentication and authorisation', () => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const open = async (hello: { token?: string; user?: string }) => {
    const client = await connect(server.wsUrl, { hello: false });
    clients.push(client);
    client.send({ type: 'hello', protocol: 1, ...hello });
    return client;
  };
  const welcomed = async (hello: { token?: string; user?: string }) => {
    const client = await open(hello);
    client.welcome = await client.waitFor('welcome');
    return client;
  };

  beforeAll(async () => {
    server = await startServer({ CHORUS_AUTH_SECRET: SECRET });
  });

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('refuses a missing or invalid token with unauthorized and close 4501', async () => {
    const invalidTokens = [
      undefined,
      'not-a-jwt',
      await token({ secret: 'another-secret-entirely-of-some-length' }),
    ];
    for (const invalid of invalidTokens) {
      const client = await open(invalid === undefined ? { user: 'mallory' } : { token: invalid });
      const error = await client.waitFor('error');
      expect(error).toMatchObject({ code: 'unauthorized', retryable: false });
      expect(await client.waitForClose()).toMatchObject({ code: 4501 });
      expect(client.frames.filter((frame) => frame.type === 'welcome')).toEqual([]);
    }
  });

  it('closes an expired token with 4001', async () => {
    const client = await open({ token: await token({ sub: 'alice', expiresIn: -60 }) });
    expect(await client.waitForClose()).toMatchObject({ code: 4001 });
    expect(client.frames.filter((frame) => frame.type === 'welcome')).toEqual([]);
  });

  it('closes with 4001 when the token expires while connected', async () => {
    const client = await welcomed({ token: await token({ sub: 'brief', expiresIn: 1.5 }) });
    expect(client.welcome?.user).toBe('brief');
    expect(await client.waitForClose(5000)).toMatchObject({ code: 4001 });
  });

  it('lets a viewer token subscribe but not post', async () => {
    const participant = await welcomed({ token: await token({ sub: 'owner' }) });
    const threadId = await createThread(participant);
    await post(participant, threadId, 'Visible to viewers');

    const viewer = await welcomed({ token: await token({ sub: 'watcher', role: 'viewer' }) });
    const { subscribed, backlog } = await subscribe(viewer, threadId);
    expect(subscribed.threadId).toBe(threadId);
    expect(backlog.map((frame) => frame.message.text)).toContain('Visible to viewers');
    const refused = await viewer.request({
      type: 'post',
      threadId,
      clientMessageId: uniqueId('v'),
      text: 'let me in',
    });
    expect(refused).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
    expect(await viewer.request({ type: 'create-thread' })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await viewer.request({ type: 'cancel', threadId })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await viewer.request({ type: 'delete-thread', threadId })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await viewer.request({ type: 'history', threadId })).toMatchObject({ type: 'history-page' });
  });

  it('confines a token scoped to threads ["a*"]', async () => {
    const admin = await welcomed({ token: await token({ sub: 'admin' }) });
    const outside = await createThread(admin, uniqueId('b1'));
    const inside = await createThread(admin, uniqueId('a1'));
    const scoped = await welcomed({ token: await token({ sub: 'scoped', threads: ['a*'] }) });
    expect(await scoped.request({ type: 'subscribe', threadId: outside })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await scoped.request({ type: 'history', threadId: outside })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(
      await scoped.request({ type: 'post', threadId: outside, clientMessageId: uniqueId('s'), text: 'hi' }),
    ).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    expect(await scoped.request({ type: 'create-thread', threadId: uniqueId('b2') })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    const { subscribed } = await subscribe(scoped, inside);
    expect(subscribed.threadId).toBe(inside);
    // Without a threadId the server chooses one the token allows, and the token can use it.
    const chosen = await scoped.request({ type: 'create-thread' }, 'thread-created');
    expect(chosen.threadId).toMatch(/^a[A-Za-z0-9_-]{16}$/);
    expect((await subscribe(scoped, chosen.threadId)).subscribed.threadId).toBe(chosen.threadId);
  });

  it('refuses a create without threadId to a token of exact thread ids only, or of none', async () => {
    for (const threads of [[], ['only-this-one']]) {
      const exact = await welcomed({ token: await token({ sub: 'exact', threads }) });
      expect(await exact.request({ type: 'create-thread' })).toMatchObject({
        type: 'error',
        code: 'forbidden',
        message: 'this token allows no thread id the server could choose; give a threadId it allows',
      });
    }
    const exact = await welcomed({ token: await token({ sub: 'exact', threads: ['only-this-one'] }) });
    expect(
      await exact.request({ type: 'create-thread', threadId: 'only-this-one' }, 'thread-created'),
    ).toMatchObject({ threadId: 'only-this-one' });
  });

  it("makes the token's sub the author, whatever hello.user says", async () => {
    const client = await welcomed({ token: await token({ sub: 'alice' }), user: 'someone-else' });
    expect(client.welcome?.user).toBe('alice');
    const threadId = await createThread(client);
    await subscribe(client, threadId);
    const posted = await post(client, threadId, 'Signed by alice');
    const message = await client.waitFor('message', (frame) => frame.message.id === posted.messageId);
    expect(message.message.author).toBe('alice');
    const history = await client.request({ type: 'history', threadId }, 'history-page');
    expect(history.items[0]?.message.author).toBe('alice');
  });
});
