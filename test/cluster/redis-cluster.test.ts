// Story on a Redis Cluster (three test-owned masters): two Chorus processes given the URL of ONE
// node detect the Cluster; a thread whose slot lives on ANOTHER node streams to viewers on both
// instances through sharded pub/sub, identically, and a viewer that drops mid-message resumes on
// the other instance with its cursor: missed messages once, the snapshot, then live.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/store/redis-keys.ts';
import { startRedisCluster, type RedisCluster } from '../support/redis.ts';
import {
  collectRun,
  expectDeltasAddUp,
  post,
  readHistory,
  streamedMessages,
  subscribe,
  threadEvents,
  transcript,
  uniqueId,
} from '../gateway/thread-frames.ts';
import {
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  SLOW_TOKENS,
  STORY_TIMEOUT_MS,
  type Instance,
} from './support.ts';

describe('on a Redis Cluster', { timeout: STORY_TIMEOUT_MS }, () => {
  let redisCluster: RedisCluster | undefined;
  let chorus: ChorusCluster | undefined;

  afterEach(async () => {
    await chorus?.stop();
    await redisCluster?.stop();
    chorus = undefined;
    redisCluster = undefined;
  });

  it('fans a run out to viewers on two instances and resumes a dropped viewer on the other one', async () => {
    redisCluster = await startRedisCluster();
    const [entry] = redisCluster.nodes;
    if (!entry) throw new Error('the cluster has no node');
    chorus = await ChorusCluster.start({
      redisUrl: `redis://${entry.host}:${entry.port}`,
      names: ['A', 'B'],
      env: { CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS, CHORUS_MAX_ITERATIONS: '2' },
      // The cluster belongs to this test and is stopped after it: stopping it is the cleanup.
      cleanup: false,
    });
    const [a, b] = chorus.instances as [Instance, Instance];
    // A thread whose slot another node serves: a client that missed the Cluster would get MOVED.
    const { threadId, owner } = await threadServedElsewhere(entry);

    const alice = await chorus.connect(a, 'alice');
    const carol = await chorus.connect(b, 'carol');
    const bob = await chorus.connect(b, 'bob');
    expect((await alice.request({ type: 'create-thread', threadId }, 'thread-created')).existing).toBe(false);
    for (const client of [alice, carol, bob]) await subscribe(client, threadId);
    // Both instances listen on the thread's sharded channel, on the node that owns its slot.
    const channel = redisKeys(chorus.prefix).thread(threadId).channel;
    expect(await shardSubscribers(owner, channel)).toBe(2);

    const posted = await post(alice, threadId, 'Plan a conference for two hundred people');
    const runStart = await alice.waitFor('run-start');
    const firstStart = await bob.waitFor('message-start');
    await bob.waitFor('message-delta', (delta) => delta.messageId === firstStart.messageId && delta.seq >= 2);
    await bob.terminate();
    const bobSaw = transcript(bob.frames, threadId);
    expect(bobSaw.map((entry) => entry.id)).toEqual([posted.messageId]);

    // The first message completes while Bob is away; he comes back through A mid-second message.
    await alice.waitFor('message-end', (end) => end.messageId === firstStart.messageId);
    const secondStart = await alice.waitFor('message-start');
    await alice.waitFor(
      'message-delta',
      (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2,
    );
    const bobAgain = await chorus.connect(a, 'bob');
    const { subscribed, backlog } = await subscribe(bobAgain, threadId, posted.cursor);
    expect(subscribed).toMatchObject({ recovered: true });
    expect(backlog.map((frame) => frame.message.id)).toEqual([firstStart.messageId]);

    for (const client of [alice, carol, bobAgain]) await collectRun(client, runStart.runId);
    const aliceEvents = threadEvents(alice.frames, threadId);
    const carolEvents = threadEvents(carol.frames, threadId);
    // Alice (on A) and Carol (on B) saw the same frames in the same order.
    expect(carolEvents).toEqual(aliceEvents);
    expect(expectRunsInSequence(aliceEvents, 'alice', { ended: true })).toEqual([runStart.runId]);
    expectDeltasAddUp(streamedMessages(aliceEvents));
    // Bob: the snapshot of the second message, then live from the next seq, adding up to its text.
    const bobEvents = threadEvents(bobAgain.frames, threadId);
    expect(bobEvents.slice(1, 3)).toMatchObject([
      { type: 'run-start', runId: runStart.runId },
      { type: 'message-start', messageId: secondStart.messageId },
    ]);
    const bobStreamed = streamedMessages(bobEvents);
    expect(bobStreamed[0]).toMatchObject({ messageId: secondStart.messageId, snapshot: true });
    expectDeltasAddUp(bobStreamed);

    const history = await readHistory(carol, threadId);
    expect(history).toHaveLength(3);
    expectTranscriptEqualsHistory('alice', transcript(aliceEvents, threadId), history);
    expectTranscriptEqualsHistory(
      'bob (two connections)',
      [...bobSaw, ...transcript(bobAgain.frames, threadId)],
      history,
    );
  });
});

/** A thread id whose hash slot is served by a node other than `entry`, and that node. */
async function threadServedElsewhere(entry: {
  host: string;
  port: number;
}): Promise<{ threadId: string; owner: { host: string; port: number } }> {
  const client = new Redis(entry.port, entry.host, { maxRetriesPerRequest: 1 });
  client.on('error', (error: Error) => console.warn(`cluster node ${entry.port}: ${error.message}`));
  try {
    const slots = (await client.call('CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number, ...unknown[]],
      ...unknown[],
    ][];
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const threadId = uniqueId('cluster-thread');
      const slot = Number(await client.call('CLUSTER', 'KEYSLOT', threadId));
      const range = slots.find(([first, last]) => slot >= first && slot <= last);
      if (!range) throw new Error(`no node serves slot ${slot}`);
      const [host, port] = range[2];
      if (port !== entry.port) return { threadId, owner: { host, port } };
    }
    throw new Error('every candidate thread id hashed to the entry node');
  } finally {
    await client.quit();
  }
}

/** How many connections of the node listen on the sharded channel. */
async function shardSubscribers(node: { host: string; port: number }, channel: string): Promise<number> {
  const client = new Redis(node.port, node.host, { maxRetriesPerRequest: 1 });
  client.on('error', (error: Error) => console.warn(`cluster node ${node.port}: ${error.message}`));
  try {
    const reply = (await client.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  } finally {
    await client.quit();
  }
}
