// RedisStore when Redis fails, told as short stories against a test-owned redis-server: it stops
// (calls fail fast, subscribers hear about the gap), comes back (the same store serves again and
// live delivery resumes), hangs (commands time out), loses its data (old cursors are not
// recovered).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.ts';
import { StoreError } from '../../src/store/store.ts';
import { createStoreFromConfig } from '../../src/store/create-store.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { freePort, startRedisServer, uniquePrefix, type RedisServer } from '../support/redis.ts';
import {
  collector,
  eventually,
  expectStoreError,
  message,
  postInput,
  stored,
} from '../contract/store.contract.ts';

const FAIL_FAST_MS = 1000;

function deferred() {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

describe('RedisStore when Redis fails', () => {
  let server: RedisServer;
  let store: RedisStore;

  beforeEach(async () => {
    server = await startRedisServer();
    store = await RedisStore.connect({
      url: server.url,
      prefix: uniquePrefix('faults'),
      reconnectMaxDelayMs: 200,
      commandTimeoutMs: 500,
    });
  });

  afterEach(async () => {
    await store.close();
    await server.stop();
  });

  it('fails fast while Redis is down, tells subscribers about the gap, and serves again after a restart', async () => {
    const { thread } = await store.createThread({ threadId: 'story', team: 'demo' });
    const [item] = await store.importMessages('story', [message(1)]);
    if (!item) throw new Error('nothing imported');
    const gap = deferred();
    const live = collector();
    await store.subscribe('story', live.listener, gap.resolve);
    const leaving = collector();
    const leavingSubscription = await store.subscribe('story', leaving.listener);

    await server.stop();
    await within(gap.promise, 2000, 'onGap after Redis stopped');

    const started = Date.now();
    await expectStoreError(store.ping(), 'unavailable');
    await expectStoreError(store.post(postInput('story', 2)), 'unavailable');
    await expectStoreError(store.readLatest('story', 10), 'unavailable');
    await expectStoreError(store.readAfter('story', item.cursor, 10), 'unavailable');
    await expectStoreError(store.requestCancel('story', 'cancelled'), 'unavailable');
    await expectStoreError(store.subscribe('other', live.listener), 'unavailable');
    await expectStoreError(store.acquireLease('story', 'me', 1000), 'unavailable');
    await expectStoreError(store.signal({ type: 'delete', threadId: 'story' }), 'unavailable');
    await leavingSubscription.unsubscribe(); // nothing to undo on a dead connection: resolves
    expect(Date.now() - started).toBeLessThan(FAIL_FAST_MS);

    await server.restart();
    await eventually(
      'the same store to serve again',
      () =>
        store.ping().then(
          () => true,
          () => false,
        ),
      10_000,
    );

    // The server restarted without persistence: the thread is gone, the old cursor cannot resume.
    await expectStoreError(store.readAfter('story', item.cursor, 10), 'not-found');
    const { thread: recreated } = await store.createThread({ threadId: 'story', team: 'demo' });
    expect(recreated.epoch).not.toBe(thread.epoch);
    expect((await store.readAfter('story', item.cursor, 10)).recovered).toBe(false);

    // The store re-subscribed by itself: a new subscribe resolves once that is confirmed, and the
    // listener from before the outage receives again (the one that left does not).
    const late = collector();
    await store.subscribe('story', late.listener);
    const { envelope } = stored(await store.post(postInput('story', 3)));
    expect(await late.until(1)).toEqual([envelope]);
    expect(await live.until(1)).toEqual([envelope]);
    expect(leaving.envelopes).toEqual([]);
    const posted = stored(await store.post(postInput('story', 4)));
    expect(await live.until(2)).toEqual([envelope, posted.envelope]);

    const signals: string[] = [];
    store.onSignal((signal) => signals.push(signal.type));
    await store.signal({ type: 'delete', threadId: 'story' });
    await eventually('the control channel to deliver again', async () => signals.length === 1);
  });

  it('times out instead of hanging when Redis stops answering', async () => {
    await store.createThread({ threadId: 'hung', team: 'demo' });
    server.pause();
    try {
      const started = Date.now();
      await expectStoreError(store.post(postInput('hung', 1)), 'unavailable');
      await expectStoreError(store.ping(), 'unavailable');
      expect(Date.now() - started).toBeLessThan(FAIL_FAST_MS + 500);
    } finally {
      server.resume();
    }
    // The answers that arrive late do not confuse later commands.
    await eventually('the store to serve again', () =>
      store.ping().then(
        () => true,
        () => false,
      ),
    );
    const { item } = stored(await store.post(postInput('hung', 2)));
    expect((await store.readLatest('hung', 10)).items.at(-1)).toEqual(item);
  });

  it('takes its command timeout from CHORUS_REDIS_COMMAND_TIMEOUT_MS (the default, 5 s, would hang past the bound)', async () => {
    const configured = await createStoreFromConfig(
      loadConfig({
        REDIS_URL: server.url,
        CHORUS_REDIS_PREFIX: uniquePrefix('timeout'),
        CHORUS_REDIS_COMMAND_TIMEOUT_MS: '300',
      }),
      silentLogger,
    );
    try {
      await configured.createThread({ threadId: 'hung', team: 'demo' });
      server.pause();
      try {
        const started = Date.now();
        await expectStoreError(configured.runState('hung'), 'unavailable');
        expect(Date.now() - started).toBeLessThan(300 + 700);
      } finally {
        server.resume();
      }
    } finally {
      await configured.close();
    }
  });

  it('does not recover cursors from before a FLUSHALL', async () => {
    await store.createThread({ threadId: 'flushed', team: 'demo' });
    const { item } = stored(await store.post(postInput('flushed', 1)));
    await server.flush();
    await expectStoreError(store.readAfter('flushed', item.cursor, 10), 'not-found');
    await store.createThread({ threadId: 'flushed', team: 'demo' });
    stored(await store.post(postInput('flushed', 2)));
    expect((await store.readAfter('flushed', item.cursor, 10)).recovered).toBe(false);
  });

  it('refuses to connect to a Redis that is not there, within the connect timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await RedisStore.connect({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300 }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('unavailable');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('RedisStore eviction policy check', () => {
  async function warningFor(args: string[]) {
    const server = await startRedisServer({ args });
    const store = await RedisStore.connect({ url: server.url, prefix: uniquePrefix('eviction') });
    try {
      return await store.checkEvictionPolicy();
    } finally {
      await store.close();
      await server.stop();
    }
  }

  it('is quiet with noeviction, warns with a policy that may evict or when CONFIG is disabled', async () => {
    const [safe, evicting, hidden] = await Promise.all([
      warningFor(['--maxmemory-policy', 'noeviction']),
      warningFor(['--maxmemory-policy', 'allkeys-lru']),
      warningFor(['--rename-command', 'CONFIG', '']),
    ]);
    expect(safe).toBeNull();
    expect(evicting).toMatch(/allkeys-lru/);
    expect(hidden).toMatch(/could not read/);
  });
});
