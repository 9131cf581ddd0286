// The Store contract on a Redis Cluster of three test-owned masters: sharded pub/sub, every
// thread's keys in one slot.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis-store.ts';
import { startRedisCluster, uniquePrefix, type RedisCluster } from '../support/redis.ts';
import { describeStoreContract, message } from './store.contract.ts';

let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
});

afterAll(async () => {
  await cluster.stop();
});

describeStoreContract('RedisStore on a Cluster', async (options = {}) => {
  const store = await RedisStore.connect({
    cluster: { nodes: cluster.nodes },
    prefix: uniquePrefix('cluster'),
    historyMaxLength: options.historyMaxLength ?? 0,
  });
  expect(store.clustered).toBe(true);
  // The cluster belongs to this file and is stopped after it: closing is the whole cleanup.
  return { store, cleanup: () => store.close() };
});

it('detects a Cluster behind a plain redis:// URL and spreads threads over its slots', async () => {
  const node = cluster.nodes[0];
  if (!node) throw new Error('no cluster node');
  const store = await RedisStore.connect({
    url: `redis://${node.host}:${node.port}`,
    prefix: uniquePrefix('url'),
  });
  try {
    expect(store.clustered).toBe(true);
    for (let index = 0; index < 12; index += 1) {
      const threadId = `spread-${index}`;
      await store.createThread({ threadId, team: 'demo' });
      const [item] = await store.importMessages(threadId, [message(index)]);
      expect((await store.readLatest(threadId, 1)).items).toEqual([item]);
      expect(await store.deleteThread(threadId)).toBe(true);
    }
  } finally {
    await store.close();
  }
});
