// Story: the instance that runs a thread's agents is SIGKILLed mid-message. Within the lease time
// (plus a margin) the surviving instance stores the message cut short as `interrupted` with the
// text streamed so far and ends the run `interrupted`; its viewers see exactly that; a viewer of
// the dead instance resumes on the survivor with its cursor; the posts queued before and during
// the kill then run to completion on the survivor, and the thread takes new posts.
import { afterEach, describe, expect, inject, it } from 'vitest';
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
} from '../gateway/thread-frames.ts';
import {
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  LEASE_MS,
  poll,
  SLOW_TOKENS,
  STORY_TIMEOUT_MS,
} from './support.ts';

const redisUrl = inject('redisUrl');
/** How long after the kill viewers must have learned that the message was interrupted. */
const FAILOVER_BOUND_MS = LEASE_MS + 3000;

describe('failover', { timeout: STORY_TIMEOUT_MS }, () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('an instance killed mid-message: the message is stored interrupted within the lease time, viewers are told, queued posts run elsewhere', async () => {
    cluster = await ChorusCluster.start({
      redisUrl,
      names: ['A', 'B'],
      env: { CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS, CHORUS_MAX_ITERATIONS: '2' },
    });
    const chorus = cluster;
    const clients = new Map<string, TestClient>();
    for (const instance of chorus.instances)
      clients.set(instance.name, await chorus.connect(instance, `viewer-${instance.name}`));
    const onA = clients.get('A')!;
    const threadId = await createThread(onA);
    for (const client of clients.values()) await subscribe(client, threadId);

    // The post goes to A, which normally runs it; whichever instance does is the one killed.
    await post(onA, threadId, 'Plan the database migration');
    const runStart = await onA.waitFor('run-start');
    const runner = await chorus.runner(threadId, runStart.runId);
    const survivor = chorus.instances.find((instance) => instance !== runner)!;
    const doomed = clients.get(runner.name)!;
    const watcher = clients.get(survivor.name)!;

    // The first message completes; a post is queued on the survivor; the second message streams.
    await watcher.waitFor('message-end');
    const inFlight = await watcher.waitFor('message-start');
    const queuedBefore = await post(watcher, threadId, 'Then write the rollback plan');
    await watcher.waitFor(
      'message-delta',
      (delta) => delta.messageId === inFlight.messageId && delta.seq >= 3,
    );
    const doomedCursor = transcript(doomed.frames, threadId).at(-1)!.cursor;

    const killedAt = Date.now();
    await chorus.kill(runner);
    // While the dead instance's lease still holds: a post is accepted and queued.
    const queuedWhile = await post(watcher, threadId, 'Also the comms plan');
    expect(queuedWhile.duplicate).toBe(false);
    // The viewer of the dead instance lost its connection, and resumes on the survivor at once.
    expect((await doomed.waitForClose()).code).toBe(1006);
    const resumed = await chorus.connect(survivor, 'viewer-resumed');
    const { subscribed } = await subscribe(resumed, threadId, doomedCursor);
    expect(subscribed).toMatchObject({ recovered: true });

    const interrupted = await watcher.waitFor(
      'message-end',
      (end) => end.messageId === inFlight.messageId,
      FAILOVER_BOUND_MS,
      `the interrupted message-end within ${FAILOVER_BOUND_MS} ms of the kill`,
    );
    const runEnd = await watcher.waitFor('run-end', (end) => end.runId === runStart.runId, FAILOVER_BOUND_MS);
    expect(
      Date.now() - killedAt,
      `failover took longer than ${FAILOVER_BOUND_MS} ms; ${chorus.problems()}`,
    ).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(runEnd.reason).toBe('interrupted');
    expect(interrupted.message).toMatchObject({
      id: inFlight.messageId,
      role: 'assistant',
      author: inFlight.agent,
      status: 'interrupted',
      runId: runStart.runId,
    });
    // The stored text is what was streamed before the kill: every delta the viewer saw, no more.
    const streamed = streamedMessages(threadEvents(watcher.frames, threadId)).find(
      (message) => message.messageId === inFlight.messageId,
    );
    expect(interrupted.message.text.length).toBeGreaterThan(0);
    expect(interrupted.message.text).toBe(streamed?.streamedText);

    // The queued posts get the next run, on the survivor, which runs to its end.
    const nextRun = await watcher.waitFor('run-start', (start) => start.runId !== runStart.runId);
    expect(await chorus.runner(threadId, nextRun.runId)).toBe(survivor);
    const nextEnd = await watcher.waitFor('run-end', (end) => end.runId === nextRun.runId, 15_000);
    expect(['terminated', 'max-iterations']).toContain(nextEnd.reason);
    // The thread accepts new posts: one more run starts (and is cancelled to end the story).
    await post(watcher, threadId, 'Thanks, that is all');
    const lastRun = await watcher.waitFor('run-start', (start) => start.runId !== nextRun.runId);
    expect(await watcher.request({ type: 'cancel', threadId }, 'cancelled')).toMatchObject({
      runId: lastRun.runId,
    });
    await watcher.waitFor('run-end', (end) => end.runId === lastRun.runId);
    await resumed.waitFor('run-end', (end) => end.runId === lastRun.runId);

    // History holds the interrupted message; both the watcher and the resumed viewer saw it all once.
    const events = threadEvents(watcher.frames, threadId);
    expect(expectRunsInSequence(events, 'watcher')).toEqual([runStart.runId, nextRun.runId, lastRun.runId]);
    const userMessages = events.filter((event) => event.type === 'message').map((event) => event.message.id);
    expect(userMessages).toEqual(expect.arrayContaining([queuedBefore.messageId, queuedWhile.messageId]));
    const history = await readHistory(watcher, threadId);
    expect(history.find((entry) => entry.id === inFlight.messageId)).toMatchObject({
      status: 'interrupted',
      text: interrupted.message.text,
    });
    expectTranscriptEqualsHistory('watcher', transcript(watcher.frames, threadId), history);
    expectTranscriptEqualsHistory(
      'viewer of the killed instance',
      [...transcript(doomed.frames, threadId), ...transcript(resumed.frames, threadId)],
      history,
    );
    expectDeltasAddUp(streamedMessages(events));
    expectDeltasAddUp(streamedMessages(threadEvents(resumed.frames, threadId)));
  });

  it('a thread watched only on the killed instance: its run is recovered within the lease time all the same', async () => {
    cluster = await ChorusCluster.start({
      redisUrl,
      names: ['A', 'B'],
      env: { CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS, CHORUS_MAX_ITERATIONS: '2' },
    });
    const chorus = cluster;
    const [a, b] = chorus.instances;
    const onA = await chorus.connect(a!, 'viewer-A');
    const threadId = await createThread(onA);
    await subscribe(onA, threadId);
    await post(onA, threadId, 'Plan the database migration');
    const runStart = await onA.waitFor('run-start');
    // The post's own step starts the run on the instance it reached.
    expect(await chorus.runner(threadId, runStart.runId)).toBe(a);
    const inFlight = await onA.waitFor('message-start');
    await onA.waitFor('message-delta', (delta) => delta.messageId === inFlight.messageId && delta.seq >= 3);

    const killedAt = Date.now();
    await chorus.kill(a!);
    // B has no viewer of the thread, so only the cluster-wide index can lead its sweep there (a
    // post's mark is due only after 15 s): the lease index, marked on every renewal, does. Reading
    // history does not make B watch the thread.
    const reader = await chorus.connect(b!, 'reader-B');
    const stored = await poll(
      'the interrupted message in history',
      FAILOVER_BOUND_MS,
      async () => (await readHistory(reader, threadId)).find((entry) => entry.id === inFlight.messageId),
      100, // within the connection's request rate
    );
    expect(
      Date.now() - killedAt,
      `recovery without viewers took longer than ${FAILOVER_BOUND_MS} ms; ${chorus.problems()}`,
    ).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(stored).toMatchObject({ status: 'interrupted', author: inFlight.agent });
    expect(stored.text.length).toBeGreaterThan(0);
    // The recovered run ended: a new post starts a run on B at once.
    await subscribe(reader, threadId);
    await post(reader, threadId, 'Thanks, that is all');
    const nextRun = await reader.waitFor('run-start', (start) => start.runId !== runStart.runId);
    expect(await chorus.runner(threadId, nextRun.runId)).toBe(b);
  });
});
