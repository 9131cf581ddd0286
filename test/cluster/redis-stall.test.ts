// Story: Redis stalls mid-message for longer than the store's command timeout (set to 1 s), then answers
// again, without dropping a connection. The run cannot go on; the message it was streaming must
// still end — stored with the text its viewers saw, `failed` (the run crashed on the store error)
// or `interrupted` (recovered once its lease expired) — the run must end, and the thread must
// serve the next post. Before the fix, viewers got `run-end` with no `message-end`: a message
// streamed and never stored.
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis.ts';
import {
  createThread,
  expectDeltasAddUp,
  post,
  readHistory,
  streamedMessages,
  subscribe,
  threadEvents,
  transcript,
} from '../gateway/thread-frames.ts';
import {
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  SLOW_TOKENS,
  STORY_TIMEOUT_MS,
  type Instance,
} from './support.ts';

/** The instances' CHORUS_REDIS_COMMAND_TIMEOUT_MS (shorter than the default 5 s: a shorter story). */
const COMMAND_TIMEOUT_MS = 1000;
/** Longer than the command timeout: the commands in flight fail, later ones succeed. */
const STALL_MS = 2000;

describe('Redis stalls', { timeout: STORY_TIMEOUT_MS }, () => {
  let redis: RedisServer | undefined;
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await redis?.stop();
    cluster = undefined;
    redis = undefined;
  });

  it('writes stall mid-message beyond the command timeout: the message ends stored with what was streamed, the run ends, the thread goes on', async () => {
    redis = await startRedisServer();
    // The Redis belongs to this test and is stopped after it: stopping it is the cleanup.
    const chorus = await ChorusCluster.start({
      redisUrl: redis.url,
      names: ['A', 'B'],
      env: {
        CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS,
        CHORUS_MAX_ITERATIONS: '1',
        CHORUS_REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      },
      cleanup: false,
    });
    cluster = chorus;
    const [a, b] = chorus.instances as [Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const bob = await chorus.connect(b, 'bob');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    await post(alice, threadId, 'Outline the quarterly report');
    const runStart = await bob.waitFor('run-start');
    const inFlight = await bob.waitFor('message-start');
    await bob.waitFor('message-delta', (delta) => delta.messageId === inFlight.messageId && delta.seq >= 2);

    // Every write waits; reads and pub/sub connections stay up.
    const admin = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    admin.on('error', (error: Error) => console.warn(`admin connection: ${error.message}`));
    try {
      await admin.call('CLIENT', 'PAUSE', String(STALL_MS), 'WRITE');
    } finally {
      await admin.quit();
    }

    const boundMs = STALL_MS + 10_000;
    const end = await bob.waitFor(
      'message-end',
      (frame) => frame.messageId === inFlight.messageId,
      boundMs,
      'the message-end of the message in flight',
    );
    const runEnd = await bob.waitFor('run-end', (frame) => frame.runId === runStart.runId, boundMs);
    expect(['failed', 'interrupted']).toContain(end.message.status);
    expect(['failed', 'interrupted']).toContain(runEnd.reason);
    // Stored with exactly what its viewers saw streamed.
    const streamed = streamedMessages(threadEvents(bob.frames, threadId)).find(
      (message) => message.messageId === inFlight.messageId,
    );
    expect(end.message.text.length).toBeGreaterThan(0);
    expect(end.message.text).toBe(streamed?.streamedText);
    await alice.waitFor('run-end', (frame) => frame.runId === runStart.runId, boundMs);

    // The thread serves the next post.
    await post(bob, threadId, 'Try again, please');
    const nextRun = await alice.waitFor('run-start', (frame) => frame.runId !== runStart.runId, boundMs);
    await alice.waitFor('run-end', (frame) => frame.runId === nextRun.runId, 10_000);
    await bob.waitFor('run-end', (frame) => frame.runId === nextRun.runId, 10_000);
    const history = await readHistory(alice, threadId);
    expect(history.find((entry) => entry.id === inFlight.messageId)).toMatchObject({
      status: end.message.status,
      text: end.message.text,
    });
    for (const [name, client] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const events = threadEvents(client.frames, threadId);
      expectRunsInSequence(events, name, { ended: true });
      expect(
        streamedMessages(events)
          .filter((message) => !message.end)
          .map((message) => message.messageId),
        `${name}: messages never ended`,
      ).toEqual([]);
      expectDeltasAddUp(streamedMessages(events));
      expectTranscriptEqualsHistory(name, transcript(client.frames, threadId), history);
    }
  });
});
