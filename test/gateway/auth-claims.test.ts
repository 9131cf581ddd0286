// Story: an instance with authentication on denies by default. For each kind of key — an HS256
// secret, RS256 keys from a JWKS served over HTTP, an ES256 public key — a token gets in only when
// every claim is well formed: `threads` an array of ids / `prefix*` / `*`, `role` exactly `viewer`
// or `participant` (missing: viewer), `sub` present (hello.user never stands in for it), `exp`
// present unless CHORUS_AUTH_ALLOW_NO_EXP=1, and `iss` / `aud` as configured when configured.
// Anything else is `unauthorized` and close 4501, before any welcome.
import { createServer } from 'node:net';
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type EnvOverrides, type TestServer } from '../support/server.ts';
import { claims, es256PemIssuer, hs256Issuer, rs256JwksIssuer, type TokenIssuer } from '../support/tokens.ts';
import { connect, type FrameOf, type TestClient } from '../support/ws-client.ts';
import { createThread, post, subscribe, uniqueId } from './thread-frames.ts';

const ISSUER = 'https://id.example.test/';
const AUDIENCE = 'chorus-api';

const clients: TestClient[] = [];

async function hello(server: TestServer, token: string, user?: string): Promise<TestClient> {
  const client = await connect(server.wsUrl, { hello: false });
  clients.push(client);
  client.send({ type: 'hello', protocol: 1, requestId: 'h', token, ...(user ? { user } : {}) });
  return client;
}

async function welcomed(server: TestServer, token: string, user?: string): Promise<TestClient> {
  const client = await hello(server, token, user);
  client.welcome = await client.waitFor('welcome');
  return client;
}

/** Expects `unauthorized` (echoing the hello's requestId), close 4501 and no welcome. */
async function refused(server: TestServer, token: string, user?: string): Promise<FrameOf<'error'>> {
  const client = await hello(server, token, user);
  const error = await client.waitFor('error');
  expect(error).toMatchObject({ code: 'unauthorized', retryable: false, requestId: 'h' });
  expect(await client.waitForClose()).toMatchObject({ code: 4501 });
  expect(client.frames.filter((frame) => frame.type === 'welcome')).toEqual([]);
  return error;
}

afterAll(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

const issuers: [string, () => Promise<TokenIssuer>][] = [
  ['HS256 secret', async () => hs256Issuer()],
  ['RS256 JWKS', rs256JwksIssuer],
  ['ES256 public key', es256PemIssuer],
];

describe.each(issuers)('tokens verified with %s', (_name, createIssuer) => {
  let issuer: TokenIssuer;
  /** Issuer and audience unchecked, exp required. */
  let plain: TestServer;
  /** CHORUS_AUTH_ISSUER and CHORUS_AUTH_AUDIENCE set. */
  let strict: TestServer;
  /** CHORUS_AUTH_ALLOW_NO_EXP=1. */
  let lenient: TestServer;
  const sign = (payload: JWTPayload) => issuer.sign(payload);

  beforeAll(async () => {
    issuer = await createIssuer();
    const start = (extra: EnvOverrides = {}) => startServer({ ...issuer.env, ...extra });
    [plain, strict, lenient] = await Promise.all([
      start(),
      start({ CHORUS_AUTH_ISSUER: ISSUER, CHORUS_AUTH_AUDIENCE: AUDIENCE }),
      start({ CHORUS_AUTH_ALLOW_NO_EXP: '1' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([plain, strict, lenient].map((server) => server.close()));
    await issuer.close();
  });

  it('lets a well-formed participant token in, named by its sub', async () => {
    const client = await welcomed(plain, await sign(claims({ sub: 'ada' })), 'someone-else');
    expect(client.welcome?.user).toBe('ada');
    const threadId = await createThread(client);
    await subscribe(client, threadId);
    const posted = await post(client, threadId, 'hello from ada');
    const message = await client.waitFor('message', (frame) => frame.message.id === posted.messageId);
    expect(message.message.author).toBe('ada');
  });

  it('refuses a threads claim that is not an array (it does not mean "*")', async () => {
    const error = await refused(plain, await sign(claims({ threads: 'secret-room' })));
    expect(error.message).toContain('threads');
    await refused(plain, await sign(claims({ threads: '*' })));
    await refused(plain, await sign(claims({ threads: { any: true } })));
  });

  it('refuses a token without a threads claim', async () => {
    const error = await refused(plain, await sign(claims({ threads: undefined })));
    expect(error.message).toContain('threads');
  });

  it('refuses threads entries that are neither ids, prefix* nor *', async () => {
    for (const threads of [[42], [''], ['a*b'], ['room a'], ['**'], [null], ['ok', 7]]) {
      const error = await refused(plain, await sign(claims({ threads })));
      expect(error.message, JSON.stringify(threads)).toContain('threads');
    }
  });

  it('confines a well-formed threads claim to its ids and prefixes', async () => {
    const owner = await welcomed(plain, await sign(claims({ sub: 'owner' })));
    const exact = await createThread(owner, uniqueId('exact'));
    const prefixed = await createThread(owner, uniqueId('team-a'));
    const other = await createThread(owner, uniqueId('secret-room'));
    const scoped = await welcomed(plain, await sign(claims({ sub: 'scoped', threads: [exact, 'team-a*'] })));
    await subscribe(scoped, exact);
    await subscribe(scoped, prefixed);
    expect(await scoped.request({ type: 'subscribe', threadId: other })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
  });

  it('refuses any role other than exactly viewer or participant', async () => {
    for (const role of ['Viewer', 'superuser', 'PARTICIPANT', 'admin', '', 1, true, ['participant']]) {
      const error = await refused(plain, await sign(claims({ role })));
      expect(error.message, JSON.stringify(role)).toContain('role');
    }
  });

  it('makes a token without role a viewer: it watches but cannot post or create', async () => {
    const owner = await welcomed(plain, await sign(claims({ sub: 'owner' })));
    const threadId = await createThread(owner);
    await post(owner, threadId, 'for the viewers');
    const viewer = await welcomed(plain, await sign(claims({ sub: 'watcher', role: undefined })));
    const { backlog } = await subscribe(viewer, threadId);
    expect(backlog.map((frame) => frame.message.text)).toContain('for the viewers');
    expect(
      await viewer.request({ type: 'post', threadId, clientMessageId: uniqueId('v'), text: 'let me' }),
    ).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await viewer.request({ type: 'create-thread' })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
  });

  it('refuses a token without sub, whatever hello.user claims', async () => {
    const error = await refused(plain, await sign(claims({ sub: undefined })), 'admin');
    expect(error.message).toContain('sub');
    await refused(plain, await sign(claims({ sub: '' })), 'admin');
    await refused(plain, await sign(claims({ sub: 42 })), 'admin');
    await refused(plain, await sign(claims({ sub: 'x'.repeat(65) })), 'admin');
  });

  it('refuses a token without exp', async () => {
    const error = await refused(plain, await sign(claims({ exp: undefined })));
    expect(error.message).toContain('exp');
    await refused(plain, await sign(claims({ exp: 'tomorrow' })));
  });

  it('closes a token past its exp with 4001', async () => {
    const client = await hello(plain, await sign(claims({ exp: Math.floor(Date.now() / 1000) - 60 })));
    expect(await client.waitForClose()).toMatchObject({ code: 4001 });
    expect(client.frames.filter((frame) => frame.type === 'welcome')).toEqual([]);
  });

  it('accepts a token without exp where CHORUS_AUTH_ALLOW_NO_EXP=1 (and still refuses one past it)', async () => {
    const client = await welcomed(lenient, await sign(claims({ sub: 'service', exp: undefined })));
    expect(client.welcome?.user).toBe('service');
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    const expired = await hello(lenient, await sign(claims({ exp: Math.floor(Date.now() / 1000) - 60 })));
    expect(await expired.waitForClose()).toMatchObject({ code: 4001 });
    await refused(lenient, await sign(claims({ sub: undefined, exp: undefined })));
  });

  it('refuses tokens signed with a key it does not trust, or with another algorithm', async () => {
    const strangers = [hs256Issuer('another-secret-that-is-long-enough-for-hs256'), await es256PemIssuer()];
    for (const stranger of strangers) await refused(plain, await stranger.sign(claims()));
  });

  it('accepts a correct token where issuer and audience are configured', async () => {
    const client = await welcomed(strict, await sign(claims({ sub: 'grace', iss: ISSUER, aud: AUDIENCE })));
    expect(client.welcome?.user).toBe('grace');
    await createThread(client);
    // An audience list that names this API is as good.
    await welcomed(strict, await sign(claims({ iss: ISSUER, aud: ['another-api', AUDIENCE] })));
  });

  it('refuses a token of another issuer, or without iss, where the issuer is configured', async () => {
    const error = await refused(strict, await sign(claims({ iss: 'https://id.other.test/', aud: AUDIENCE })));
    expect(error.message).toContain('iss');
    await refused(strict, await sign(claims({ aud: AUDIENCE })));
  });

  it('refuses a token for another audience, or without aud, where the audience is configured', async () => {
    const error = await refused(strict, await sign(claims({ iss: ISSUER, aud: 'another-api' })));
    expect(error.message).toContain('aud');
    await refused(strict, await sign(claims({ iss: ISSUER })));
  });
});

describe('a JWKS that cannot be fetched', () => {
  it('answers unavailable and closes with 4013 (retry later), not 4501', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const server = await startServer({ CHORUS_AUTH_JWKS_URL: `http://127.0.0.1:${port}/jwks.json` });
    const issuer = await rs256JwksIssuer();
    try {
      const client = await hello(server, await issuer.sign(claims()));
      expect(await client.waitFor('error')).toMatchObject({
        code: 'unavailable',
        retryable: true,
        requestId: 'h',
      });
      expect(await client.waitForClose(10_000)).toMatchObject({ code: 4013 });
      expect(client.frames.filter((frame) => frame.type === 'welcome')).toEqual([]);
    } finally {
      await server.close();
      await issuer.close();
    }
  });
});
