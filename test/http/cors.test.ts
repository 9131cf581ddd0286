// CORS (CHORUS_CORS_ORIGINS) on the `/v1` API, its OpenAPI document and AG-UI, over real HTTP:
// Access-Control-Allow-Origin for an allowed Origin on answers, errors and SSE streams, preflights
// answered 204 with the route's methods and the headers the API reads, nothing for another origin
// or with the setting off (the default), and no rate-limit token taken by a preflight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from '../gateway/thread-frames.ts';
import { startServer, type EnvOverrides, type TestServer } from '../support/server.ts';
import { request, SseReader } from './http-client.ts';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.com';

/**
 * A server for the describe block this is called in (started before its tests, closed after):
 * its `url`, read when a test runs.
 */
function serverFor(env: EnvOverrides): { readonly url: string } {
  let server: TestServer | undefined;
  beforeAll(async () => {
    server = await startServer(env);
  });
  afterAll(async () => {
    await server?.close();
  });
  return {
    get url() {
      if (!server) throw new Error('the server is not started yet');
      return server.url;
    },
  };
}

/** Every Access-Control-* header of an answer. */
const corsHeaders = (headers: Headers) =>
  Object.fromEntries([...headers].filter(([name]) => name.startsWith('access-control-')));

const preflight = (server: { url: string }, path: string, origin: string, method = 'POST') =>
  request(server.url, 'OPTIONS', path, {
    headers: {
      origin,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization, content-type',
    },
  });

const input = (threadId: string) => ({
  threadId,
  runId: 'r1',
  messages: [{ id: uniqueId('m'), role: 'user', content: 'hello' }],
  tools: [],
  context: [],
  state: {},
});

describe('CORS with CHORUS_CORS_ORIGINS set to exact origins', () => {
  const server = serverFor({
    CHORUS_CORS_ORIGINS: `${APP}, http://localhost:3000`,
  });

  it('answers an allowed origin with its origin, Vary: Origin and the exposed headers; errors too', async () => {
    const cases: Array<[string, string, object, number]> = [
      ['POST', '/v1/threads', { body: {} }, 201],
      ['GET', '/v1/openapi.json', {}, 200],
      // A body that is not JSON is still refused; the page can read why.
      ['POST', '/v1/threads', { raw: 'x', headers: { 'content-type': 'text/plain' } }, 400],
      ['GET', '/v1/nothing-here', {}, 404],
      ['POST', '/ag-ui', { body: { threadId: 1 } }, 400],
    ];
    for (const origin of [APP, 'http://localhost:3000'])
      for (const [method, path, options, status] of cases) {
        const { headers: extra = {}, ...rest } = options as { headers?: Record<string, string> };
        const reply = await request(server.url, method, path, { ...rest, headers: { ...extra, origin } });
        expect({ method, path, status: reply.status, cors: corsHeaders(reply.headers) }).toEqual({
          method,
          path,
          status,
          cors: {
            'access-control-allow-origin': origin,
            'access-control-expose-headers': 'Retry-After, Allow',
          },
        });
        expect(reply.headers.get('vary'), path).toBe('Origin');
      }
  });

  it('gives another origin, or none, no CORS headers (the browser refuses)', async () => {
    const origins: Array<Record<string, string>> = [
      { origin: EVIL },
      { origin: `${APP}:8443` },
      { origin: 'null' },
      {},
    ];
    for (const headers of origins) {
      const reply = await request(server.url, 'GET', '/v1/openapi.json', { headers });
      expect(reply.status).toBe(200);
      expect(corsHeaders(reply.headers), JSON.stringify(headers)).toEqual({});
      expect(reply.headers.get('vary')).toBe('Origin');
    }
    const refused = await preflight(server, '/v1/threads', EVIL);
    expect(refused.status).toBe(204);
    expect(corsHeaders(refused.headers)).toEqual({});
  });

  it("answers a preflight 204 with the route's methods, the headers the API reads and a max age", async () => {
    const cases: Array<[string, string, string]> = [
      ['/v1/threads', 'POST', 'POST'],
      ['/v1/threads/t1', 'DELETE', 'GET, DELETE'],
      ['/v1/threads/t1/messages', 'POST', 'GET, POST'],
      ['/v1/threads/t1/cancel', 'POST', 'POST'],
      ['/v1/threads/t1/stream', 'GET', 'GET'],
      ['/v1/openapi.json', 'GET', 'GET'],
      ['/ag-ui', 'POST', 'POST'],
      ['/ag-ui/demo', 'POST', 'POST'],
    ];
    for (const [path, method, methods] of cases) {
      const reply = await preflight(server, path, APP, method);
      expect({ path, status: reply.status, cors: corsHeaders(reply.headers) }).toEqual({
        path,
        status: 204,
        cors: {
          'access-control-allow-origin': APP,
          'access-control-allow-methods': methods,
          'access-control-allow-headers': 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID',
          'access-control-max-age': '600',
          'access-control-expose-headers': 'Retry-After, Allow',
        },
      });
      expect(reply.headers.get('allow'), path).toBe(`${methods}, OPTIONS`);
      expect(reply.text).toBe('');
    }
    // A path that is no endpoint is still 404; a method a path does not take names OPTIONS too.
    expect((await preflight(server, '/v1/nothing-here', APP)).status).toBe(404);
    expect((await preflight(server, '/ag-ui/demo/more', APP)).status).toBe(404);
    const put = await request(server.url, 'PUT', '/v1/threads', { headers: { origin: APP } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('streams SSE (the /v1 stream and AG-UI) with Access-Control-Allow-Origin', async () => {
    const threadId = uniqueId('cors');
    // The thread does not exist yet: 404, readable by the page.
    const missing = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`, { origin: APP });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe(APP);
    missing.close();
    await request(server.url, 'POST', '/v1/threads', { body: { threadId } });
    const live = await SseReader.open(`${server.url}/v1/threads/${threadId}/stream`, { origin: APP });
    expect(live.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(live.headers.get('access-control-allow-origin')).toBe(APP);
    await live.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
    live.close();
    const agUi = await fetch(`${server.url}/ag-ui`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(input(uniqueId('cors'))),
      signal: AbortSignal.timeout(10_000),
    });
    expect(agUi.status).toBe(200);
    expect(agUi.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(agUi.headers.get('access-control-allow-origin')).toBe(APP);
    expect(await agUi.text()).toContain('RUN_FINISHED');
  });
});

describe('CORS and the rate limits', () => {
  // Two requests' tokens (refilled once in 1000 s): preflights must not take any.
  const server = serverFor({
    CHORUS_CORS_ORIGINS: APP,
    CHORUS_REQUEST_RATE: '0.001',
    CHORUS_REQUEST_BURST: '2',
  });

  it('takes no rate-limit token for a preflight; a 429 exposes Retry-After', async () => {
    for (let index = 0; index < 10; index += 1)
      expect((await preflight(server, '/v1/threads/t1', APP, 'GET')).status).toBe(204);
    // The bucket holds two tokens: both are still there.
    for (let index = 0; index < 2; index += 1)
      expect(
        (await request(server.url, 'GET', '/v1/threads/missing', { headers: { origin: APP } })).status,
      ).toBe(404);
    const limited = await request(server.url, 'GET', '/v1/threads/missing', { headers: { origin: APP } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(corsHeaders(limited.headers)).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-expose-headers': expect.stringContaining('Retry-After'),
    });
  });
});

describe('CORS with authentication on', () => {
  const server = serverFor({ CHORUS_CORS_ORIGINS: APP, CHORUS_AUTH_SECRET: 'x'.repeat(32) });

  it('answers a preflight without a token (browsers send none), and a 401 the page can read', async () => {
    const answer = await preflight(server, '/v1/threads', APP);
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    const refused = await request(server.url, 'POST', '/v1/threads', { body: {}, headers: { origin: APP } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(APP);
    // Bearer tokens, not cookies: no credentials mode.
    expect(refused.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('CORS with CHORUS_CORS_ORIGINS=*', () => {
  const server = serverFor({ CHORUS_CORS_ORIGINS: '*' });

  it('allows every origin with *', async () => {
    for (const origin of [APP, EVIL]) {
      const reply = await request(server.url, 'GET', '/v1/openapi.json', { headers: { origin } });
      expect(reply.headers.get('access-control-allow-origin')).toBe('*');
      const answer = await preflight(server, '/v1/threads/t1/messages', origin);
      expect(answer.status).toBe(204);
      expect(corsHeaders(answer.headers)).toMatchObject({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': expect.stringContaining('Authorization'),
      });
    }
  });
});

describe('CORS off (the default): same origin only', () => {
  const server = serverFor({});

  it('sends no CORS header, and answers OPTIONS as a method the path does not take', async () => {
    const reply = await request(server.url, 'POST', '/v1/threads', { body: {}, headers: { origin: APP } });
    expect(reply.status).toBe(201);
    expect(corsHeaders(reply.headers)).toEqual({});
    expect(reply.headers.get('vary')).toBeNull();
    for (const path of ['/v1/threads', '/ag-ui']) {
      const answer = await preflight(server, path, APP);
      expect({ path, status: answer.status, cors: corsHeaders(answer.headers) }).toEqual({
        path,
        status: 405,
        cors: {},
      });
      expect(answer.headers.get('allow')).toBe('POST');
    }
  });
});
