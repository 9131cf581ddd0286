// The Store contract on one Redis server (the test run's shared Redis, a unique key prefix per
// store, cleaned up after each test), plus what only a shared store can show: delivery across
// instances.
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { redisKeys } from '../../src/store/redis-keys.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import type { ControlSignal } from '../../src/store/store.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import {
  collector,
  describeStoreContract,
  eventually,
  message,
  postInput,
  startOptions,
  stored,
} from './store.contract.ts';

const redisUrl = inject('redisUrl');

describeStoreContract('RedisStore', async (options = {}) => {
  const prefix = uniquePrefix('contract');
  const store = await RedisStore.connect({
    url: redisUrl,
    prefix,
    historyMaxLength: options.historyMaxLength ?? 0,
  });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await cleanupPrefix(redisUrl, prefix);
    },
  };
});

describe('RedisStore across instances', () => {
  async function pair() {
    const prefix = uniquePrefix('instances');
    const a = await RedisStore.connect({ url: redisUrl, prefix });
    const b = await RedisStore.connect({ url: redisUrl, prefix });
    const cleanup = async () => {
      await Promise.all([a.close(), b.close()]);
      await cleanupPrefix(redisUrl, prefix);
    };
    return { a, b, cleanup };
  }

  it('shares threads, history and live events between instances', async () => {
    const { a, b, cleanup } = await pair();
    try {
      const { thread } = await a.createThread({ threadId: 'shared', team: 'demo' });
      expect(await b.createThread({ threadId: 'shared', team: 'demo' })).toEqual({ thread, existing: true });
      const onB = collector();
      await b.subscribe('shared', onB.listener);
      const posted = stored(await a.post(postInput('shared', 1, { start: startOptions('a') })));
      const start = posted.run?.runStart;
      expect(await onB.until(2)).toEqual([posted.envelope, start]);
      expect((await b.readLatest('shared', 10)).items).toEqual([posted.item]);
      expect(await b.currentRun('shared')).toEqual({ events: [start], lastSeq: start?.liveSeq });
      expect(await b.acquireLease('shared', 'b', 10_000)).toBeNull();
      expect(await b.requestCancel('shared', 'cancelled')).toBe(posted.run?.runId);
    } finally {
      await cleanup();
    }
  });

  it('delivers control signals to every instance', async () => {
    const { a, b, cleanup } = await pair();
    try {
      const onA: string[] = [];
      const onB: string[] = [];
      const describe = (signal: ControlSignal) =>
        signal.type === 'load'
          ? `load ${signal.instanceId} ${signal.delayMs}`
          : `${signal.type} ${signal.threadId}`;
      a.onSignal((signal) => onA.push(describe(signal)));
      b.onSignal((signal) => onB.push(describe(signal)));
      await a.signal({ type: 'delete', threadId: 'gone' });
      await a.signal({ type: 'load', instanceId: 'instance-a', delayMs: 3.5 });
      await eventually('the signals on both instances', async () => onA.length === 2 && onB.length === 2);
      const both = ['delete gone', 'load instance-a 3.5'];
      expect([onA, onB]).toEqual([both, both]);
    } finally {
      await cleanup();
    }
  });

  it('uses only keys under its prefix, with the thread id as hash tag', async () => {
    const prefix = uniquePrefix('keys');
    const store = await RedisStore.connect({ url: redisUrl, prefix });
    try {
      await store.createThread({ threadId: 'tagged', team: 'demo' });
      const run = stored(await store.post(postInput('tagged', 1, { start: startOptions('me') }))).run;
      if (!run) throw new Error('no run');
      stored(await store.post(postInput('tagged', 2)));
      await store.publishRunEvents(run.lease, run.runId, [
        { type: 'message-start', threadId: 'tagged', runId: run.runId, messageId: 'a', agent: 'w' },
      ]);
      await store.markForSweep('tagged', 0);
      await store.markForSweep('tagged', 0, 'leases');
      const raw = new Redis(redisUrl);
      const keys = await raw.keys('*tagged*');
      await raw.quit();
      for (const key of keys) expect(key.startsWith(`${prefix}:thread:{tagged}:`), key).toBe(true);
      expect(await store.deleteThread('tagged')).toBe(true);
      // What is left is the sweep's two indexes (shared by every thread), which a sweep prunes.
      expect(await cleanupPrefix(redisUrl, prefix)).toBe(2);
    } finally {
      await store.close();
      await cleanupPrefix(redisUrl, prefix);
    }
  });

  it('warns unless the eviction policy is noeviction', async () => {
    const store = await RedisStore.connect({ url: redisUrl, prefix: uniquePrefix('eviction') });
    try {
      const warning = await store.checkEvictionPolicy();
      expect(warning === null || /maxmemory-policy/.test(warning)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('skips history entries of a future schema version instead of failing', async () => {
    const prefix = uniquePrefix('versions');
    const store = await RedisStore.connect({ url: redisUrl, prefix });
    const raw = new Redis(redisUrl);
    raw.on('error', (error: Error) => console.warn(`raw client: ${error.message}`));
    try {
      await store.createThread({ threadId: 'mixed', team: 'demo' });
      const [first] = await store.importMessages('mixed', [message(1)]);
      if (!first) throw new Error('nothing imported');
      // A newer writer (rolling deploy) appends offset 2 in a format this version cannot read.
      const keys = redisKeys(prefix).thread('mixed');
      const offset = await raw.hincrby(keys.meta, 'offset', 1);
      await raw.xadd(keys.history, `${offset}-1`, 'v', '2', 'payload', 'whatever');
      const [third] = await store.importMessages('mixed', [message(3)]);
      expect((await store.readLatest('mixed', 10)).items).toEqual([first, third]);
      expect(await store.readAfter('mixed', first.cursor, 10)).toEqual({
        recovered: true,
        items: [third],
        missed: 2,
        newest: third?.cursor,
      });
      expect((await store.readBefore('mixed', undefined, 10)).items).toEqual([first, third]);
    } finally {
      await raw.quit();
      await store.close();
      await cleanupPrefix(redisUrl, prefix);
    }
  });

  it('forgets a clientMessageId after the idempotency TTL', async () => {
    const prefix = uniquePrefix('idempotency');
    const store = await RedisStore.connect({ url: redisUrl, prefix, idempotencyTtlSeconds: 0.1 });
    try {
      await store.createThread({ threadId: 'ttl', team: 'demo' });
      const first = stored(await store.post(postInput('ttl', 1)));
      // Every retry inside the TTL is a duplicate; the first one after it is stored anew.
      const again = await eventually('the clientMessageId to expire', async () => {
        const retry = await store.post(postInput('ttl', 1));
        return retry.status === 'stored' ? retry : null;
      });
      expect(again.item.cursor).not.toBe(first.item.cursor);
    } finally {
      await store.close();
      await cleanupPrefix(redisUrl, prefix);
    }
  });
});
