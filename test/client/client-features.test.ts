// The SDK's other promises, against real instances: a token provider called again after 4001, a
// static token that expired stops the client, refusals stop it too, older history pages in, a
// persisted cursor resumes instead of replaying, requests time out and report the server's errors.
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChorusClient,
  ChorusError,
  storageCursorStore,
  type ChorusClientOptions,
  type KeyValueStorage,
} from '../../src/client/index.ts';
import { startServer, type EnvOverrides, type TestServer } from '../support/server.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { FAST_CLIENT, until } from './support.ts';

const SECRET = 'client-test-secret-long-enough-for-hs256';

async function token(expiresInSeconds: number, sub = 'ada'): Promise<string> {
  return new SignJWT({ role: 'participant', threads: ['*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime(Date.now() / 1000 + expiresInSeconds)
    .sign(new TextEncoder().encode(SECRET));
}

function memoryStorage(): KeyValueStorage & { entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return {
    entries,
    getItem: (key) => entries.get(key) ?? null,
    setItem: (key, value) => void entries.set(key, value),
    removeItem: (key) => void entries.delete(key),
  };
}

describe('client SDK features', () => {
  const servers: TestServer[] = [];
  const clients: ChorusClient[] = [];
  const proxies: TcpProxy[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  const serve = async (env: EnvOverrides = {}) => {
    const server = await startServer({ CHORUS_DEMO_TOKENS_PER_SECOND: '0', ...env });
    servers.push(server);
    return server;
  };
  const client = (url: string, options: Partial<ChorusClientOptions> = {}) => {
    const made = new ChorusClient({ ...FAST_CLIENT, url, ...options });
    clients.push(made);
    return made;
  };
  /** Posts and waits for the run it starts to end. */
  const ask = async (thread: ReturnType<ChorusClient['thread']>, text: string) => {
    const ended = thread.once('run-end');
    await thread.post(text).done;
    return ended;
  };

  it('calls the token provider again after close 4001 (token expired) and resumes', async () => {
    const server = await serve({ CHORUS_AUTH_SECRET: SECRET });
    let calls = 0;
    const watcher = client(server.wsUrl, {
      token: async () => {
        calls += 1;
        return token(calls === 1 ? 1.5 : 3600);
      },
    });
    const { threadId } = await watcher.createThread();
    const thread = watcher.thread(threadId);
    await ask(thread, 'Before the expiry');
    const subscribed: boolean[] = [];
    thread.on('subscribed', ({ resumed }) => subscribed.push(resumed));
    await until(
      [watcher],
      'the expiry close and the reconnect',
      () => calls === 2 && watcher.state === 'connected',
      {
        timeoutMs: 10_000,
      },
    );
    expect(watcher.connection.lastClose?.code).toBe(4001);
    await until([thread], 'the resubscription', () => subscribed.length === 1);
    expect(subscribed).toEqual([true]);
    expect(watcher.user).toBe('ada');
  });

  it('stops on 4001 when the token is a fixed string, and on an invalid token (4501)', async () => {
    const server = await serve({ CHORUS_AUTH_SECRET: SECRET });
    const expiring = client(server.wsUrl, { token: await token(1.2) });
    await expiring.connect();
    await until([expiring], 'the client to close', () => expiring.state === 'closed', { timeoutMs: 10_000 });
    expect(expiring.connection.error?.code).toBe('token-expired');
    await expect(expiring.createThread()).rejects.toMatchObject({ code: 'token-expired' });

    const refused = client(server.wsUrl, { token: 'not-a-jwt' });
    await expect(refused.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(refused.state).toBe('closed');
    expect(refused.connection.lastClose?.code).toBe(4501);
  });

  it('pages older history in, oldest first, until there is none', async () => {
    const server = await serve({ CHORUS_BACKLOG_LIMIT: '3' });
    const writer = client(server.wsUrl);
    const { threadId } = await writer.createThread();
    const writerThread = writer.thread(threadId);
    await ask(writerThread, 'one');
    await ask(writerThread, 'two');
    const reader = client(server.wsUrl);
    const thread = reader.thread(threadId);
    await until([thread], 'the subscription', () => thread.status === 'live' && thread.messages.length === 3);
    expect(thread.hasOlder).toBe(true);
    let pages = 0;
    while (thread.hasOlder) {
      pages += 1;
      await thread.loadOlder({ limit: 2 });
    }
    const history = await writer.history(threadId, { limit: 200 });
    expect(thread.messages.map((item) => item.id)).toEqual(history.items.map((item) => item.message.id));
    expect(history.items.length).toBeGreaterThan(5);
    expect(pages).toBe(Math.ceil((history.items.length - 3) / 2));
    expect(await thread.loadOlder()).toBe(0);
  });

  it('resumes from a persisted cursor after a restart of the client instead of replaying', async () => {
    const server = await serve();
    const storage = memoryStorage();
    const first = client(server.wsUrl, { cursorStore: storageCursorStore(storage) });
    const { threadId } = await first.createThread();
    const thread = first.thread(threadId);
    await ask(thread, 'first question');
    const seen = thread.messages.length;
    expect(storage.entries.get(`chorus.cursor.${threadId}`)).toBe(thread.cursor);
    first.close();

    const writer = client(server.wsUrl);
    await ask(writer.thread(threadId), 'second question');

    const second = client(server.wsUrl, { cursorStore: storageCursorStore(storage) });
    const resumed = second.thread(threadId);
    const info = await resumed.once('subscribed');
    expect(info).toMatchObject({ recovered: true, resumed: true });
    const history = await second.history(threadId);
    await until(
      [resumed],
      'the missed messages',
      () => resumed.messages.length === history.items.length - seen,
    );
    expect(resumed.messages.map((item) => item.id)).toEqual(
      history.items.slice(seen).map((item) => item.message.id),
    );
    expect(resumed.hasOlder).toBe(true);
  });

  it('waits out a rate limit on a request safe to repeat when the wait fits in its time, else reports it', async () => {
    // One token per 200 ms, none kept: a second history page at once is refused with ~200 ms to wait.
    const server = await serve({ CHORUS_REQUEST_RATE: '5', CHORUS_REQUEST_BURST: '1' });
    const chorus = client(server.wsUrl);
    const { threadId } = await chorus.createThread();
    const pages = await Promise.all([0, 1, 2].map(() => chorus.history(threadId, { timeoutMs: 5000 })));
    expect(pages.map((page) => page.items)).toEqual([[], [], []]);
    // A wait longer than the request's time: the refusal is the answer.
    await chorus.history(threadId);
    await expect(chorus.history(threadId, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'rate-limited',
      retryable: true,
      retryAfterMs: expect.any(Number),
    });
    // A request that is not repeated (delete) is refused at once, whatever its time.
    await expect(chorus.deleteThread(threadId, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'rate-limited',
    });
  });

  it('reports server errors with their codes and times requests out', async () => {
    const server = await serve();
    const proxy = await TcpProxy.start(server.port);
    proxies.push(proxy);
    const chorus = client(proxy.wsUrl, { pingIntervalMs: 60_000, pingTimeoutMs: 60_000 });
    await expect(chorus.history('no-such-thread')).rejects.toMatchObject({
      code: 'not-found',
      retryable: false,
    });
    await expect(chorus.createThread({ team: 'no-such-team' })).rejects.toBeInstanceOf(ChorusError);
    const created = await chorus.createThread({ threadId: 'kept-thread' });
    expect(await chorus.createThread({ threadId: 'kept-thread' })).toEqual({ ...created, existing: true });
    const unknown = chorus.thread('not-there');
    // Awaiting an event of a thread that fails rejects with its error (it used to wait for ever);
    // the event the failure itself emits still resolves.
    const synced = unknown.once('synced');
    const failure = unknown.once('error');
    await expect(synced).rejects.toMatchObject({ code: 'not-found' });
    await expect(failure).resolves.toMatchObject({ code: 'not-found' });
    expect(unknown.status).toBe('failed');
    expect(unknown.error?.code).toBe('not-found');
    await expect(unknown.once('run-end')).rejects.toMatchObject({ code: 'not-found' });
    const kept = chorus.thread('kept-thread');
    const ended = kept.once('run-end');
    void kept.close();
    await expect(ended).rejects.toMatchObject({ code: 'closed' });

    proxy.blackhole();
    const started = Date.now();
    await expect(chorus.ping({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
