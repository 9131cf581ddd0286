// Story: clients send everything a buggy or hostile client can send. Each frame gets a defined
// answer (an `error` with a stable code, or a close with a documented code) and the instance
// keeps serving: afterwards another client still completes a whole run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { collectRun, createThread, post, subscribe, uniqueId } from './thread-frames.ts';

describe('malformed, oversized and unknown input', () => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const open = async (options: Parameters<typeof connect>[1] = {}) => {
    const client = await connect(server.wsUrl, options);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer({ CHORUS_MAX_FRAME_BYTES: '4096' });
  });

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('answers unreadable frames with an error without requestId', async () => {
    const client = await open();
    client.sendRaw('{"type": "ping", ');
    const notJson = await client.waitFor('error');
    expect(notJson).toMatchObject({ code: 'bad-json', retryable: false });
    expect(notJson.requestId).toBeUndefined();

    client.send({ requestId: 'no-type', threadId: 'x' });
    expect(await client.waitFor('error')).toMatchObject({ code: 'bad-frame', requestId: 'no-type' });
    client.sendRaw('[1, 2, 3]');
    const array = await client.waitFor('error');
    expect(array).toMatchObject({ code: 'bad-frame' });
    expect(array.requestId).toBeUndefined();
    client.sendRaw('"hello"');
    expect(await client.waitFor('error')).toMatchObject({ code: 'bad-frame' });

    client.sendRaw(Buffer.from(JSON.stringify({ type: 'ping', requestId: 'binary' })));
    expect(await client.waitFor('error')).toMatchObject({ code: 'bad-frame' });
    expect(client.isOpen).toBe(true);
  });

  it('answers unknown types and invalid fields with the requestId echoed', async () => {
    const client = await open();
    const threadId = await createThread(client);

    expect(await client.request({ type: 'launch-rockets' })).toMatchObject({
      type: 'error',
      code: 'unknown-type',
      retryable: false,
    });
    expect(await client.request({ type: 'subscribe' })).toMatchObject({ type: 'error', code: 'bad-frame' });
    expect(await client.request({ type: 'subscribe', threadId: 42 })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });
    expect(await client.request({ type: 'post', threadId, text: 'no clientMessageId' })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });
    expect(
      await client.request({ type: 'post', threadId, clientMessageId: uniqueId('c'), text: '' }),
    ).toMatchObject({ type: 'error', code: 'bad-frame' });
    expect(await client.request({ type: 'history', threadId, limit: 'ten' })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });
    expect(await client.request({ type: 'subscribe', threadId, extra: true })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });
    expect(await client.request({ type: 'subscribe', threadId: 'spaces are not ids' })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(client.isOpen).toBe(true);
  });

  it('refuses a field over its bound with too-large, and closes a frame over the frame limit with 1009', async () => {
    const bigServer = await startServer({ CHORUS_MAX_FRAME_BYTES: '65536' });
    try {
      const client = await connect(bigServer.wsUrl);
      const threadId = await createThread(client);
      const answer = await client.request({
        type: 'post',
        threadId,
        clientMessageId: uniqueId('big'),
        text: 'x'.repeat(32_769),
      });
      expect(answer).toMatchObject({ type: 'error', code: 'too-large', retryable: false });
      const history = await client.request({ type: 'history', threadId }, 'history-page');
      expect(history.items).toEqual([]);
      await client.close();
    } finally {
      await bigServer.close();
    }

    const closed1009 = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(/^chorus_connections_closed_total\{code="1009"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await closed1009();
    const client = await open();
    client.send({ type: 'ping', padding: 'x'.repeat(5000) });
    expect(await client.waitForClose()).toMatchObject({ code: 1009 });
    // Closed by `ws` itself, and counted as every close the server makes.
    expect(await closed1009()).toBe(before + 1);
  });

  it('refuses requests on threads that do not exist with not-found', async () => {
    const client = await open();
    const threadId = uniqueId('missing');
    const requests = [
      { type: 'subscribe', threadId },
      { type: 'post', threadId, clientMessageId: uniqueId('c'), text: 'hello?' },
      { type: 'history', threadId },
      { type: 'cancel', threadId },
      { type: 'delete-thread', threadId },
    ];
    for (const request of requests) {
      expect(await client.request(request), request.type).toMatchObject({
        type: 'error',
        code: 'not-found',
        retryable: false,
      });
    }
    // A refused subscribe leaves no subscription behind: the thread can be created and joined.
    await createThread(client, threadId);
    const { subscribed } = await subscribe(client, threadId);
    expect(subscribed.threadId).toBe(threadId);
  });

  it('enforces the handshake: not-ready before hello, incompatible protocol, hello timeout', async () => {
    const early = await open({ hello: false });
    expect(await early.request({ type: 'create-thread' })).toMatchObject({
      type: 'error',
      code: 'not-ready',
    });
    early.send({ type: 'hello', protocol: 1 });
    expect(await early.waitFor('welcome')).toMatchObject({ protocol: 1, user: 'anonymous' });
    expect(await early.request({ type: 'hello', protocol: 1 })).toMatchObject({
      type: 'error',
      code: 'bad-frame',
    });

    const future = await open({ hello: false });
    future.send({ type: 'hello', protocol: 2 });
    const incompatible = await future.waitFor('incompatible');
    expect(incompatible.reason).toEqual(expect.any(String));
    expect(await future.waitForClose()).toMatchObject({ code: 4502 });

    const impatient = await startServer({ CHORUS_HELLO_TIMEOUT_MS: '200' });
    try {
      const silent = await connect(impatient.wsUrl, { hello: false });
      expect(await silent.waitForClose()).toMatchObject({ code: 4010 });
      expect(silent.frames).toEqual([]);
    } finally {
      await impatient.close();
    }
  });

  it('still completes a whole run for another client afterwards', async () => {
    const client = await open();
    const threadId = await createThread(client);
    await subscribe(client, threadId);
    await post(client, threadId, 'Are you still there?');
    const run = await collectRun(client);
    const runEnd = run.at(-1);
    if (runEnd?.type !== 'run-end') throw new Error(`expected run-end, got ${JSON.stringify(runEnd)}`);
    expect(['terminated', 'max-iterations']).toContain(runEnd.reason);
    const ends = run.filter((frame) => frame.type === 'message-end');
    expect(ends.length).toBeGreaterThanOrEqual(2);
    for (const end of ends) expect(end.message.status).toBe('completed');
  });
});
