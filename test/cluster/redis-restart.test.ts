// Stories of Redis going away under two Chorus processes, on a test-owned redis-server:
// - restarted mid-run with its data kept (AOF): the instances recover by themselves (/readyz 503
//   during the outage, 200 after), requests fail fast and say `unavailable` (retryable), viewers
//   cut off with a reconnect code resume with their cursors, the run cut short is stored
//   `interrupted`, and every viewer ends with exactly the stored history;
// - restarted without its data, or flushed: no resume claims continuity — the old cursor gets
//   `not-found`, then `recovered: false` once the thread is created again.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis.ts';
import type { TestClient } from '../support/ws-client.ts';
import {
  createThread,
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
  reconnectAdvised,
  storedHistory,
  Viewer,
  waitForReadiness,
  type Instance,
  LEASE_MS,
  SLOW_TOKENS,
  STORY_TIMEOUT_MS,
} from './support.ts';

/** A request during an outage must be answered (not hang) within this. */
const FAIL_FAST_MS = 2000;
/** Instances must serve again within this after Redis is back (reconnect backoff is capped at 2 s). */
const RECOVERY_MS = 10_000;

describe('Redis restarts', { timeout: STORY_TIMEOUT_MS }, () => {
  let redis: RedisServer | undefined;
  let cluster: ChorusCluster | undefined;
  let dataDirectory: string | undefined;

  afterEach(async () => {
    await cluster?.stop();
    await redis?.stop();
    if (dataDirectory) await rm(dataDirectory, { recursive: true, force: true });
    cluster = undefined;
    redis = undefined;
    dataDirectory = undefined;
  });

  const startChorus = async (
    server: RedisServer,
    env: Record<string, string>,
    names: readonly string[] = ['A', 'B'],
  ) => {
    // The Redis belongs to this test and is stopped after it: stopping it is the cleanup.
    cluster = await ChorusCluster.start({ redisUrl: server.url, names, env, cleanup: false });
    return cluster;
  };

  /** Alternates between the instances, so that each resume goes to another one. */
  const roundRobin = (instances: readonly Instance[]) => {
    let next = 0;
    return () => instances[next++ % instances.length]!;
  };

  it('restarted mid-run with its data: instances recover, outage requests say unavailable, viewers resume to the exact history', async () => {
    dataDirectory = await mkdtemp(join(tmpdir(), 'chorus-aof-'));
    redis = await startRedisServer({
      args: ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDirectory],
    });
    const chorus = await startChorus(redis, {
      CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS,
      CHORUS_MAX_ITERATIONS: '2',
    });
    const [a, b] = chorus.instances as [Instance, Instance];
    const poster = await chorus.connect(a, 'poster');
    const threadId = await createThread(poster);
    const viewers = [
      new Viewer(chorus, 'v1', threadId),
      new Viewer(chorus, 'v2', threadId),
      new Viewer(chorus, 'v3', threadId),
    ];
    await viewers[0]!.open(a);
    await viewers[1]!.open(b);
    await viewers[2]!.open(b);
    const pick = roundRobin(chorus.instances);
    for (const viewer of viewers) viewer.resumeAutomatically(pick);

    await post(poster, threadId, 'Plan the data centre move');
    const [watcher] = viewers as [Viewer];
    const runStart = await watcher.waitForEvent('run-start', () => true, 5000);
    const firstEnd = await watcher.waitForEvent('message-end', () => true, 5000, 'the first message-end');
    const inFlight = await watcher.waitForEvent(
      'message-start',
      (start) => start.messageId !== firstEnd.messageId,
      5000,
      'the second message-start',
    );
    await watcher.waitForEvent(
      'message-delta',
      (delta) => delta.messageId === inFlight.messageId && delta.seq >= 3,
      5000,
    );

    // Outage.
    await redis.stop();
    const cutOff = await Promise.all(
      viewers.map((viewer) => viewer.client.waitForClose(FAIL_FAST_MS + 1000)),
    );
    for (const close of cutOff) expect(reconnectAdvised(close.code), `close code ${close.code}`).toBe(true);
    await Promise.all(chorus.instances.map((instance) => waitForReadiness(instance, 503, FAIL_FAST_MS)));
    const outagePost = uniqueId('outage');
    const asked = Date.now();
    const refused = await poster.request(
      { type: 'post', threadId, clientMessageId: outagePost, text: 'Are you there?' },
      'error',
      { timeoutMs: FAIL_FAST_MS },
    );
    expect(Date.now() - asked).toBeLessThan(FAIL_FAST_MS);
    expect(refused).toMatchObject({ code: 'unavailable', retryable: true });
    const history = await poster.request({ type: 'history', threadId }, 'error', { timeoutMs: FAIL_FAST_MS });
    expect(history).toMatchObject({ code: 'unavailable', retryable: true });

    // Redis is back with its data; nobody restarts the instances.
    await redis.restart();
    await Promise.all(chorus.instances.map((instance) => waitForReadiness(instance, 200, RECOVERY_MS)));
    // The post refused during the outage is retried as is, and accepted now.
    const retried = await poster.request(
      { type: 'post', threadId, clientMessageId: outagePost, text: 'Are you there?' },
      'posted',
      { timeoutMs: FAIL_FAST_MS },
    );
    expect(retried.duplicate).toBe(false);

    // The run cut short by the outage is ended `interrupted` once its lease expires (a viewer
    // that resumed after that gets the message in its backlog), and the retried post gets a run.
    for (const viewer of viewers) {
      expect(await viewer.waitForMessage(inFlight.messageId, RECOVERY_MS)).toMatchObject({
        status: 'interrupted',
      });
    }
    const nextRun = await watcher.waitForEvent(
      'run-start',
      (start) => start.runId !== runStart.runId,
      RECOVERY_MS,
    );
    const nextEnd = await watcher.waitForEvent('run-end', (end) => end.runId === nextRun.runId, 15_000);
    expect(['terminated', 'max-iterations']).toContain(nextEnd.reason);

    const stored = await storedHistory(chorus, b, threadId);
    expect(stored.find((entry) => entry.id === inFlight.messageId)).toMatchObject({ status: 'interrupted' });
    expect(stored.filter((entry) => entry.id === retried.messageId)).toHaveLength(1);
    for (const viewer of viewers) {
      await viewer.waitForEvent('run-end', (end) => end.runId === nextRun.runId, 15_000);
      await viewer.settled();
      expect(viewer.segments.length, `${viewer.segments.length} connections`).toBeGreaterThanOrEqual(2);
      // Data was kept: every resume is a true continuation.
      expect(viewer.segments.map((segment) => segment.subscribed.recovered)).toEqual([
        false,
        ...viewer.segments.slice(1).map(() => true),
      ]);
      expectTranscriptEqualsHistory(`viewer ${viewers.indexOf(viewer) + 1}`, viewer.transcript(), stored);
      // On each connection runs open and end in turn; on the last one, every run and message ended.
      const segments = viewer.segmentEvents();
      for (const [index, events] of segments.entries()) {
        expectRunsInSequence(events, `viewer ${viewers.indexOf(viewer) + 1}`, {
          ended: index === segments.length - 1,
        });
      }
      const last = streamedMessages(segments.at(-1)!);
      expect(last.filter((message) => !message.end).map((message) => message.messageId)).toEqual([]);
      expectDeltasAddUp(last);
    }
  });

  it('restarted without its data: an old cursor gets not-found, then recovered: false on the re-created thread', async () => {
    redis = await startRedisServer();
    const chorus = await startChorus(redis, { CHORUS_MAX_ITERATIONS: '1' });
    const [a, b] = chorus.instances as [Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await post(alice, threadId, 'Remember this');
    const runStart = await alice.waitFor('run-start');
    await alice.waitFor('run-end', (end) => end.runId === runStart.runId);
    const cursor = transcript(alice.frames, threadId).at(-1)!.cursor;

    await redis.stop();
    expect(reconnectAdvised((await alice.waitForClose(FAIL_FAST_MS + 1000)).code)).toBe(true);
    await redis.restart();
    await Promise.all(chorus.instances.map((instance) => waitForReadiness(instance, 200, RECOVERY_MS)));

    await expectDataLoss(chorus, b, threadId, cursor);
  });

  it('flushed mid-run: viewers are told the thread is gone, a resume gets not-found, then recovered: false on the re-created thread', async () => {
    redis = await startRedisServer();
    const chorus = await startChorus(redis, {
      CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS,
      CHORUS_MAX_ITERATIONS: '1',
    });
    const [a, b] = chorus.instances as [Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const bob = await chorus.connect(b, 'bob');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    const posted = await post(alice, threadId, 'Remember this too');
    const inFlight = await bob.waitFor('message-start');
    await bob.waitFor('message-delta', (delta) => delta.messageId === inFlight.messageId && delta.seq >= 2);
    const cursor = posted.cursor;

    await redis.flush();
    await bob.terminate();
    // The run finds the thread gone at its next write (its lease went with the data): it cannot
    // store the message, and says so to the viewers that stayed instead of leaving the run open.
    const gone = await alice.waitFor('thread-deleted', () => true, LEASE_MS + 3000);
    expect(gone.threadId).toBe(threadId);
    const afterGone = threadEvents(alice.frames.slice(alice.frames.indexOf(gone) + 1), threadId);
    expect(afterGone).toEqual([]);
    await expectDataLoss(chorus, b, threadId, cursor);
  });

  // A viewer that stays subscribed while Redis loses an idle thread's data, then the thread is
  // created again: it must not follow the new history as if it continued the old one.
  it('flushed while idle: a viewer that stayed subscribed is not carried silently into the re-created thread', async () => {
    redis = await startRedisServer();
    const chorus = await startChorus(redis, { CHORUS_MAX_ITERATIONS: '1' }, ['A']);
    const [a] = chorus.instances as [Instance];
    const alice = await chorus.connect(a, 'alice');
    const threadId = await createThread(alice);
    const { subscribed } = await subscribe(alice, threadId);
    await post(alice, threadId, 'Remember this');
    const runStart = await alice.waitFor('run-start');
    await alice.waitFor('run-end', (end) => end.runId === runStart.runId);

    await redis.flush();
    const other = await chorus.connect(a, 'other');
    expect(await other.request({ type: 'create-thread', threadId }, 'thread-created')).toMatchObject({
      existing: false,
    });
    const posted = await post(other, threadId, 'A new beginning');
    // Honest outcomes for Alice: told the thread is gone, or cut off to resume (then recovered: false).
    const outcome = await alice
      .next(
        (frame) =>
          frame.type === 'thread-deleted' ||
          (frame.type === 'message' && frame.message.id === posted.messageId),
        { timeoutMs: 3000, description: "thread-deleted, or the new thread's first message" },
      )
      .catch(async (error: unknown) => {
        if (alice.closeStatus && reconnectAdvised(alice.closeStatus.code)) return null;
        throw error;
      });
    if (outcome?.type === 'message') {
      throw new Error(
        `alice (subscribed at epoch ${subscribed.epoch ?? '?'}) received ${outcome.cursor} of the re-created thread as a continuation`,
      );
    }
  });
});

/**
 * After Redis lost the thread: a resume with `cursor` on `instance` is answered `not-found`; once
 * the thread is created again with the same id, the same cursor gives `recovered: false` and an
 * empty backlog, and the new thread works.
 */
async function expectDataLoss(
  chorus: ChorusCluster,
  instance: Instance,
  threadId: string,
  cursor: string,
): Promise<void> {
  const returning: TestClient = await chorus.connect(instance, 'returning');
  const lost = await returning.request({ type: 'subscribe', threadId, cursor }, 'error');
  expect(lost).toMatchObject({ code: 'not-found', threadId });
  const created = await returning.request({ type: 'create-thread', threadId }, 'thread-created');
  expect(created.existing).toBe(false);
  const { subscribed, backlog } = await subscribe(returning, threadId, cursor);
  expect(subscribed).toMatchObject({ recovered: false, backlog: 0, cursor: null });
  expect(backlog).toEqual([]);
  // The re-created thread runs as a new one; the returning viewer's view is exactly its history.
  await post(returning, threadId, 'Starting over');
  const runStart = await returning.waitFor('run-start');
  await returning.waitFor('run-end', (end) => end.runId === runStart.runId, 15_000);
  const history = await readHistory(returning, threadId);
  expect(history.map((entry) => entry.cursor)).not.toContain(cursor);
  expectTranscriptEqualsHistory('returning viewer', transcript(returning.frames, threadId), history);
}
