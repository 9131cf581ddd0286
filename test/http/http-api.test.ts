// The `/v1` API's requests: create (idempotent with a client-chosen id), read, delete, history
// pages, posts keyed by Idempotency-Key, cancel — and their errors: the WebSocket protocol's codes
// with fitting statuses, bounded bodies, never a stack trace; the gateway's tokens and rate limits.
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../contract/store.contract.ts';
import { uniqueId } from '../gateway/thread-frames.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { claims, hs256Issuer, type TokenIssuer } from '../support/tokens.ts';
import { request, SseReader } from './http-client.ts';

const errorBody = (code: string) => ({ code, message: expect.any(String), retryable: expect.any(Boolean) });

describe('the /v1 API without authentication', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({
      CHORUS_POST_RATE: '0',
      CHORUS_CREATE_RATE: '0',
      // Messages stream for a few hundred ms: a cancel lands mid-run.
      CHORUS_DEMO_TOKENS_PER_SECOND: '200',
    });
  });
  afterAll(async () => {
    await server.close();
  });

  const call = (method: string, path: string, options = {}) => request(server.url, method, path, options);

  it('creates a thread once for a client-chosen id, reads and deletes it', async () => {
    const threadId = uniqueId('http');
    const created = await call('POST', '/v1/threads', { body: { threadId, metadata: { topic: 'x' } } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ threadId, existing: false, team: 'demo' });
    const again = await call('POST', '/v1/threads', { body: { threadId } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ threadId, existing: true, team: 'demo' });
    const read = await call('GET', `/v1/threads/${threadId}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ threadId, team: 'demo', metadata: { topic: 'x' } });
    expect((await call('DELETE', `/v1/threads/${threadId}`)).body).toEqual({ threadId });
    expect((await call('GET', `/v1/threads/${threadId}`)).status).toBe(404);
    expect((await call('DELETE', `/v1/threads/${threadId}`)).body).toEqual(errorBody('not-found'));
  });

  it('creates a thread with a server-chosen id from an empty body', async () => {
    const created = await call('POST', '/v1/threads');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ threadId: expect.any(String), existing: false });
  });

  it('posts once per Idempotency-Key: 202 with the stored message and its cursor', async () => {
    const threadId = uniqueId('http');
    await call('POST', '/v1/threads', { body: { threadId } });
    const key = uniqueId('key');
    const first = await call('POST', `/v1/threads/${threadId}/messages`, {
      body: { text: 'hello there' },
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({
      threadId,
      cursor: expect.any(String),
      duplicate: false,
      message: { role: 'user', text: 'hello there', author: 'anonymous', clientMessageId: key },
    });
    const body = first.body as { messageId: string; cursor: string; message: { id: string } };
    expect(body.messageId).toBe(body.message.id);
    const retry = await call('POST', `/v1/threads/${threadId}/messages`, {
      body: { text: 'hello there' },
      headers: { 'idempotency-key': key },
    });
    expect(retry.status).toBe(202);
    expect(retry.body).toMatchObject({ messageId: body.messageId, cursor: body.cursor, duplicate: true });
    // The run it started ends; history holds the post once.
    const stream = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`);
    await stream.waitFor((event) => event.json?.type === 'run-end', 'run-end');
    stream.close();
    const history = await call('GET', `/v1/threads/${threadId}/messages`);
    const items = (history.body as { items: Array<{ message: { clientMessageId?: string } }> }).items;
    expect(items.filter((item) => item.message.clientMessageId === key)).toHaveLength(1);
  });

  it('pages history with before and limit, oldest first', async () => {
    const threadId = uniqueId('http');
    await call('POST', '/v1/threads', { body: { threadId } });
    const stream = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`);
    for (const text of ['one', 'two']) {
      await call('POST', `/v1/threads/${threadId}/messages`, {
        body: { text },
        headers: { 'idempotency-key': uniqueId('key') },
      });
      const ends = () => stream.frames.filter((frame) => frame.type === 'run-end').length;
      const wanted = text === 'one' ? 1 : 2;
      await stream.waitFor(() => ends() >= wanted, `run-end ${wanted}`);
    }
    stream.close();
    const all = (await call('GET', `/v1/threads/${threadId}/messages`)).body as {
      items: Array<{ cursor: string; message: { text: string } }>;
      hasMore: boolean;
    };
    expect(all.hasMore).toBe(false);
    expect(all.items.length).toBeGreaterThanOrEqual(4);
    const page = (await call('GET', `/v1/threads/${threadId}/messages?limit=2`)).body as typeof all;
    expect(page.items).toEqual(all.items.slice(-2));
    expect(page.hasMore).toBe(true);
    const before = encodeURIComponent(page.items[0]!.cursor);
    const older = (await call('GET', `/v1/threads/${threadId}/messages?limit=100&before=${before}`))
      .body as typeof all;
    expect([...older.items, ...page.items]).toEqual(all.items);
    expect(older.hasMore).toBe(false);
  });

  it('cancel answers the run it stopped, or runId null', async () => {
    const threadId = uniqueId('http');
    await call('POST', '/v1/threads', { body: { threadId } });
    expect((await call('POST', `/v1/threads/${threadId}/cancel`)).body).toEqual({ threadId, runId: null });
    const stream = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`);
    await call('POST', `/v1/threads/${threadId}/messages`, {
      body: { text: 'go' },
      headers: { 'idempotency-key': uniqueId('key') },
    });
    const start = await stream.waitFor((event) => event.json?.type === 'message-start', 'message-start');
    const cancelled = await call('POST', `/v1/threads/${threadId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toEqual({ threadId, runId: start.json?.runId });
    const end = await stream.waitFor((event) => event.json?.type === 'run-end', 'run-end');
    expect(end.json).toMatchObject({ reason: 'cancelled' });
    stream.close();
  });

  it('answers bad input with the protocol codes and statuses, never a stack trace', async () => {
    const threadId = uniqueId('http');
    await call('POST', '/v1/threads', { body: { threadId } });
    const cases: Array<[string, string, object, number, string]> = [
      ['POST', '/v1/threads', { raw: '{not json' }, 400, 'bad-json'],
      ['POST', '/v1/threads', { body: { threadId: 'has spaces' } }, 400, 'bad-frame'],
      ['POST', '/v1/threads', { body: { unknown: 1 } }, 400, 'bad-frame'],
      ['POST', '/v1/threads', { body: { team: 'nope' } }, 404, 'not-found'],
      [
        'POST',
        '/v1/threads',
        { raw: JSON.stringify({ metadata: { a: 'x'.repeat(70_000) } }) },
        413,
        'too-large',
      ],
      ['GET', '/v1/threads/missing-thread', {}, 404, 'not-found'],
      ['GET', '/v1/threads/missing-thread/messages', {}, 404, 'not-found'],
      ['GET', `/v1/threads/${threadId}/messages?limit=0`, {}, 400, 'bad-frame'],
      ['POST', `/v1/threads/${threadId}/messages`, { body: { text: 'no key' } }, 400, 'bad-frame'],
      [
        'POST',
        `/v1/threads/${threadId}/messages`,
        { body: { text: 'x'.repeat(40_000) }, headers: { 'idempotency-key': 'k1' } },
        413,
        'too-large',
      ],
      [
        'POST',
        '/v1/threads/missing-thread/messages',
        { body: { text: 'hi' }, headers: { 'idempotency-key': 'k2' } },
        404,
        'not-found',
      ],
      ['POST', '/v1/threads/missing-thread/cancel', {}, 404, 'not-found'],
      ['GET', '/v1/threads/missing-thread/stream', {}, 404, 'not-found'],
      ['GET', '/v1/nothing-here', {}, 404, 'not-found'],
      ['PUT', `/v1/threads/${threadId}`, {}, 405, 'bad-frame'],
      // A malformed percent-escape in the path (decoding it threw, and the process went down).
      ['GET', '/v1/threads/%E0%A4%A', {}, 400, 'bad-frame'],
      ['POST', '/v1/threads/%zz/messages', { body: { text: 'hi' } }, 400, 'bad-frame'],
      ['POST', '/ag-ui/%E0%A4%A', { body: {} }, 400, 'bad-frame'],
      // A body that is not declared JSON (what a cross-site form or text/plain POST sends).
      ['POST', '/v1/threads', { body: {}, headers: { 'content-type': 'text/plain' } }, 400, 'bad-frame'],
      [
        'POST',
        `/v1/threads/${threadId}/messages`,
        {
          raw: 'text=hi',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': 'k3' },
        },
        400,
        'bad-frame',
      ],
      [
        'POST',
        '/ag-ui',
        { body: {}, headers: { 'content-type': 'text/plain;charset=UTF-8' } },
        400,
        'bad-frame',
      ],
    ];
    for (const [method, path, options, status, code] of cases) {
      const reply = await call(method, path, options);
      expect({ method, path, status: reply.status, body: reply.body }).toEqual({
        method,
        path,
        status,
        body: errorBody(code),
      });
      expect(reply.text).not.toMatch(/\bat .*\.ts:\d+/);
    }
    // A request target that is no URL at all gets 400, for a page and for an upgrade alike.
    for (const upgrade of [false, true]) {
      const head = await rawRequest(
        server.port,
        `GET http://[::1 HTTP/1.1\r\nHost: x\r\n${upgrade ? 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' : ''}\r\n`,
      );
      expect(head).toMatch(/^HTTP\/1\.1 4\d\d /);
    }
    expect((await call('GET', '/healthz')).status).toBe(200);
    // JSON with a charset or a +json type is JSON; a limit that is no number says so.
    const typed = await call('POST', '/v1/threads', {
      body: { threadId: uniqueId('http') },
      headers: { 'content-type': 'application/merge-patch+json; charset=utf-8' },
    });
    expect(typed.status).toBe(201);
    const notANumber = await call('GET', `/v1/threads/${threadId}/messages?limit=abc`);
    expect(notANumber).toMatchObject({
      status: 400,
      body: { code: 'bad-frame', message: 'limit: must be a whole number' },
    });
    // A limit past a bound names the bound (it said "must be a whole number" of 1001).
    expect(await call('GET', `/v1/threads/${threadId}/messages?limit=1001`)).toMatchObject({
      status: 413,
      body: { code: 'too-large', message: 'limit: at most 1000' },
    });
    expect(await call('GET', `/v1/threads/${threadId}/messages?limit=0`)).toMatchObject({
      status: 400,
      body: { code: 'bad-frame', message: 'limit: at least 1' },
    });
    expect(await call('GET', `/v1/threads/${threadId}/messages?limit=1.5`)).toMatchObject({
      status: 400,
      body: { code: 'bad-frame', message: 'limit: must be a whole number' },
    });
  });

  it("answers a method a path does not take 405 with that path's methods in Allow", async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/v1/threads', 'POST'],
      ['OPTIONS', '/v1/threads', 'POST'],
      ['PUT', '/v1/threads/t1', 'GET, DELETE'],
      ['DELETE', '/v1/threads/t1/messages', 'GET, POST'],
      ['GET', '/v1/threads/t1/cancel', 'POST'],
      ['POST', '/v1/threads/t1/stream', 'GET'],
      ['POST', '/v1/openapi.json', 'GET'],
      ['GET', '/ag-ui', 'POST'],
      ['PATCH', '/ag-ui/demo', 'POST'],
      ['HEAD', '/v1/threads/t1', 'GET, DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const reply = await call(method, path);
      expect({ method, path, status: reply.status, allow: reply.headers.get('allow') }).toEqual({
        method,
        path,
        status: 405,
        allow,
      });
    }
    // A path that is no endpoint is 404, with no Allow; an answered request has none either.
    for (const path of ['/v1/nothing-here', '/v1/threads/t1/nothing', '/ag-ui/demo/extra'])
      expect((await call('PUT', path)).headers.get('allow'), path).toBeNull();
    expect((await call('GET', '/v1/openapi.json')).headers.get('allow')).toBeNull();
  });

  it('serves the OpenAPI document', async () => {
    const reply = await call('GET', '/v1/openapi.json');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ openapi: '3.1.0', paths: { '/threads': expect.any(Object) } });
  });
});

describe('the /v1 API with authentication and rate limits', () => {
  let issuer: TokenIssuer;
  let server: TestServer;

  beforeAll(async () => {
    issuer = hs256Issuer();
    server = await startServer({
      ...issuer.env,
      CHORUS_CREATE_RATE: '0.001',
      CHORUS_CREATE_BURST: '2',
      CHORUS_REQUEST_RATE: '0.001',
      CHORUS_REQUEST_BURST: '3',
    });
  });
  afterAll(async () => {
    await server.close();
    await issuer.close();
  });

  const call = (method: string, path: string, options = {}) => request(server.url, method, path, options);

  it('refuses a missing, invalid or expired token 401; a viewer or a foreign thread 403', async () => {
    expect(await call('GET', '/v1/threads/any')).toMatchObject({
      status: 401,
      body: errorBody('unauthorized'),
    });
    expect(await call('GET', '/v1/threads/any', { token: 'not-a-jwt' })).toMatchObject({
      status: 401,
      body: errorBody('unauthorized'),
    });
    const expired = await issuer.sign(claims({ exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(await call('GET', '/v1/threads/any', { token: expired })).toMatchObject({
      status: 401,
      body: { code: 'unauthorized', message: 'token expired' },
    });
    const viewer = await issuer.sign(claims({ role: 'viewer' }));
    expect(await call('POST', '/v1/threads', { token: viewer, body: {} })).toMatchObject({
      status: 403,
      body: errorBody('forbidden'),
    });
    const narrow = await issuer.sign(claims({ threads: ['mine-*'] }));
    expect(await call('GET', '/v1/threads/theirs', { token: narrow })).toMatchObject({
      status: 403,
      body: errorBody('forbidden'),
    });
    expect((await call('GET', `/v1/threads/${uniqueId('http')}/stream`, { token: narrow })).status).toBe(403);
    // A create without threadId gets an id the token allows, or 403 when it allows no chosen id.
    const created = await call('POST', '/v1/threads', { token: narrow, body: {} });
    expect(created).toMatchObject({ status: 201, body: { threadId: expect.stringMatching(/^mine-.{16}$/) } });
    const exact = await issuer.sign(claims({ sub: 'exact-ids', threads: ['just-this'] }));
    expect(await call('POST', '/v1/threads', { token: exact, body: {} })).toMatchObject({
      status: 403,
      body: errorBody('forbidden'),
    });
  });

  it('counts its refusals in chorus_errors_sent_total and its streams in chorus_subscriptions', async () => {
    const metrics = server.app.metrics;
    const value = async (name: string, labels: Record<string, string>) => {
      const metric = metrics.registry.getSingleMetric(name);
      const values = (await metric?.get())?.values ?? [];
      const found = values.find((entry) => Object.entries(labels).every(([k, v]) => entry.labels[k] === v));
      return found?.value ?? 0;
    };
    const unauthorized = { code: 'unauthorized', transport: 'http' };
    const before = await value('chorus_errors_sent_total', unauthorized);
    expect((await call('GET', '/v1/threads/any')).status).toBe(401);
    expect(await value('chorus_errors_sent_total', unauthorized)).toBe(before + 1);

    const token = await issuer.sign(claims({ sub: 'metered' }));
    const threadId = uniqueId('http');
    expect((await call('POST', '/v1/threads', { token, body: { threadId } })).status).toBe(201);
    const streams = await value('chorus_subscriptions', { transport: 'sse' });
    const stream = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`, {
      authorization: `Bearer ${token}`,
    });
    await stream.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    expect(await value('chorus_subscriptions', { transport: 'sse' })).toBe(streams + 1);
    stream.close();
    await eventually('the stream to be uncounted', async () => {
      return (await value('chorus_subscriptions', { transport: 'sse' })) === streams;
    });
  });

  it("posts as the token's sub, and rate-limits creates per user with 429 and retryAfterMs", async () => {
    const token = await issuer.sign(claims({ sub: 'grace' }));
    const threadId = uniqueId('http');
    expect((await call('POST', '/v1/threads', { token, body: { threadId } })).status).toBe(201);
    const posted = await call('POST', `/v1/threads/${threadId}/messages`, {
      token,
      body: { text: 'hi' },
      headers: { 'idempotency-key': uniqueId('key') },
    });
    expect(posted.body).toMatchObject({ message: { author: 'grace' } });
    expect((await call('POST', '/v1/threads', { token, body: {} })).status).toBe(201);
    const limited = await call('POST', '/v1/threads', { token, body: {} });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({
      ...errorBody('rate-limited'),
      retryable: true,
      retryAfterMs: expect.any(Number),
    });
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    // Another user has buckets of their own.
    const other = await issuer.sign(claims({ sub: 'alan' }));
    expect((await call('POST', '/v1/threads', { token: other, body: {} })).status).toBe(201);
  });

  it('rate-limits reading a thread, its history, cancel and delete per user in one bucket', async () => {
    const token = await issuer.sign(claims({ sub: 'hopper' }));
    const threadId = uniqueId('http');
    expect((await call('POST', '/v1/threads', { token, body: { threadId } })).status).toBe(201);
    expect((await call('GET', `/v1/threads/${threadId}`, { token })).status).toBe(200);
    expect((await call('GET', `/v1/threads/${threadId}/messages`, { token })).status).toBe(200);
    expect((await call('POST', `/v1/threads/${threadId}/cancel`, { token })).status).toBe(200);
    for (const [method, path] of [
      ['GET', `/v1/threads/${threadId}/messages`],
      ['DELETE', `/v1/threads/${threadId}`],
      ['GET', `/v1/threads/${threadId}`],
    ] as const) {
      const limited = await call(method, path, { token });
      expect(limited, `${method} ${path}`).toMatchObject({
        status: 429,
        body: { ...errorBody('rate-limited'), retryAfterMs: expect.any(Number) },
      });
    }
    // Posting has a bucket of its own, and so has another user.
    const posted = await call('POST', `/v1/threads/${threadId}/messages`, {
      token,
      body: { text: 'still allowed' },
      headers: { 'idempotency-key': uniqueId('key') },
    });
    expect(posted.status).toBe(202);
    const other = await issuer.sign(claims({ sub: 'lovelace' }));
    expect((await call('DELETE', `/v1/threads/${threadId}`, { token: other })).status).toBe(200);
  });
});

/** Sends `text` as it is over TCP and resolves with the first line of the answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer in 5 s')));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.slice(0, answer.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after: ${JSON.stringify(answer)}`)));
  });
}
