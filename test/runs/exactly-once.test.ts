// The windows of issue 8, each opened at its named step with the fault injector (or a held model
// turn), on the in-memory store and on Redis: a post is stored once and answered by exactly one
// run, every viewer sees every finished message once and in order, whatever fails where.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisKeys } from '../../src/store/redis-keys.ts';
import type { FrameOf, TestClient } from '../support/ws-client.ts';
import {
  createThread,
  expectDeltasAddUp,
  post,
  readHistory,
  streamedMessages,
  subscribe,
  threadEvents,
  uniqueId,
} from '../gateway/thread-frames.ts';
import { answeredPosts, WindowInstances, type StoreKind, type WindowInstance } from './support.ts';

const redisUrl = inject('redisUrl');

type Instance = WindowInstance;

describe.each<StoreKind>(['memory', 'redis'])('exactly once on the %s store', (kind) => {
  const instances = new WindowInstances(kind, redisUrl);
  afterEach(() => instances.close());
  const instance = (options?: Parameters<WindowInstances['instance']>[0]) => instances.instance(options);
  const newPrefix = () => instances.newPrefix();
  const open = (on: Instance, user?: string) => instances.open(on, user);

  /** A participant with a new thread it is subscribed to. */
  async function participant(on: Instance) {
    const client = await open(on);
    const threadId = await createThread(client);
    await subscribe(client, threadId);
    return { client, threadId };
  }

  function expectAnsweredOnce(client: TestClient, messageIds: string[]) {
    const answered = answeredPosts(client.frames);
    for (const messageId of messageIds) expect(answered.get(messageId), messageId).toHaveLength(1);
  }

  it('window 1: a post whose answer was lost is answered by exactly one run; its retry is a duplicate', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    chorus.faults.inject('post', 'fail-after');
    const error = await client.request(
      { type: 'post', threadId, clientMessageId: 'c-lost', text: 'hello' },
      'error',
    );
    expect(error).toMatchObject({ code: 'unavailable', retryable: true });
    const retry = await post(client, threadId, 'hello', 'c-lost');
    expect(retry.duplicate).toBe(true);
    const runEnd = await client.waitFor('run-end', () => true, 10_000);
    expect(runEnd.reason).toBe('terminated');
    expectAnsweredOnce(client, [retry.messageId]);
    const history = await readHistory(client, threadId);
    expect(history.map((item) => item.text)).toEqual(['hello', 'reply to: hello']);
  });

  it('window 2: a post made while a run starts is answered by the next run only, and the first never sees it', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    const hold = chorus.model.holdNextTurn();
    const first = await post(client, threadId, 'first');
    await hold.reached;
    const second = await post(client, threadId, 'second');
    expect(second.queued).toBe(true);
    hold.release();
    const firstRun = await client.waitFor('run-end');
    const secondRun = await client.waitFor('run-end', (frame) => frame.runId !== firstRun.runId, 10_000);
    expect(chorus.model.contexts[0]).toEqual(['first']);
    // History order: the second post was stored while the first reply streamed.
    expect(chorus.model.contexts[1]).toEqual(['first', 'second', 'reply to: first']);
    const answered = answeredPosts(client.frames);
    expect(answered.get(first.messageId)).toEqual([firstRun.runId]);
    expect(answered.get(second.messageId)).toEqual([secondRun.runId]);
  });

  it('window 3: a store error or a lost answer as the next run starts loses no post', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    // The end of the first run fails before it reaches the store; the end of the second is done
    // (with the start of the third) but its answer is lost.
    const hold = chorus.model.holdNextTurn();
    await post(client, threadId, 'one');
    await hold.reached;
    const two = await post(client, threadId, 'two');
    chorus.faults.inject('finishRun', 'fail-before');
    const secondHold = chorus.model.holdNextTurn();
    hold.release();
    const failedEnd = await client.waitFor('run-end', () => true, 10_000);
    expect(failedEnd.reason).toBe('terminated'); // the end is done again, once
    const secondStart = await client.waitFor('run-start', (frame) => frame.runId !== failedEnd.runId, 10_000);
    expect(secondStart.posts).toEqual([two.messageId]);
    await secondHold.reached;
    const three = await post(client, threadId, 'three');
    chorus.faults.inject('finishRun', 'fail-after');
    secondHold.release();
    const secondEnd = await client.waitFor('run-end', (frame) => frame.runId === secondStart.runId, 10_000);
    expect(secondEnd.reason).toBe('terminated');
    const thirdEnd = await client.waitFor('run-end', () => true, 10_000);
    expect(thirdEnd.reason).toBe('terminated');
    expectAnsweredOnce(client, [two.messageId, three.messageId]);
    const history = await readHistory(client, threadId);
    expect(history.map((item) => item.text)).toEqual([
      'one',
      'two',
      'reply to: one',
      'three',
      'reply to: two',
      'reply to: three',
    ]);
  });

  it('window 5: with the interrupt policy a post cancels the run it waited behind, never the run that answers it', async () => {
    const chorus = await instance({ multitask: 'interrupt' });
    const { client, threadId } = await participant(chorus);
    const hold = chorus.model.holdNextTurn();
    await post(client, threadId, 'one');
    await hold.reached;
    // The first run is past its last message and about to end when the second post arrives.
    const ending = chorus.faults.inject('finishRun', 'pause-before');
    hold.release();
    await ending.reached;
    const two = await post(client, threadId, 'two');
    ending.release();
    const firstEnd = await client.waitFor('run-end');
    expect(firstEnd).toMatchObject({ reason: 'cancelled', detail: 'superseded' });
    const secondEnd = await client.waitFor('run-end', () => true, 10_000);
    expect(secondEnd.reason).toBe('terminated');
    expectAnsweredOnce(client, [two.messageId]);
  });

  it('window 6: a thread deleted while a viewer joins is announced to that viewer', async () => {
    const chorus = await instance();
    const owner = await open(chorus);
    const threadId = await createThread(owner);
    await post(owner, threadId, 'hello');
    const joiner = await open(chorus, 'joiner');
    const joining = chorus.faults.inject('currentRun', 'pause-before');
    joiner.send({ type: 'subscribe', requestId: 'join', threadId });
    await joining.reached;
    await owner.request({ type: 'delete-thread', threadId }, 'thread-deleted');
    joining.release();
    await joiner.waitFor('subscribed');
    const deleted = await joiner.waitFor('thread-deleted', (frame) => frame.requestId === undefined);
    expect(deleted.threadId).toBe(threadId);
  });

  it('window 7: a joiner at a run boundary gets the earlier run whole before the next run starts', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    const firstHold = chorus.model.holdNextTurn();
    await post(client, threadId, 'one');
    await firstHold.reached;
    await post(client, threadId, 'two');
    // The joiner reads the backlog now (without the first reply), then waits before reading the run.
    const joiner = await open(chorus, 'joiner');
    const joining = chorus.faults.inject('currentRun', 'pause-before');
    joiner.send({ type: 'subscribe', requestId: 'join', threadId });
    await joining.reached;
    const secondHold = chorus.model.holdNextTurn();
    firstHold.release();
    await secondHold.reached; // run 1 ended, run 2 is mid-message
    joining.release();
    const secondStart = await joiner.waitFor('run-start', () => true, 10_000);
    await joiner.waitFor('message-delta', (frame) => frame.snapshot === true);
    secondHold.release();
    await joiner.waitFor('run-end', (frame) => frame.runId === secondStart.runId, 10_000);
    const events = threadEvents(joiner.frames, threadId);
    const types = events.map((event) => `${event.type}${'runId' in event ? `:${event.runId}` : ''}`);
    const startIndex = events.indexOf(secondStart);
    const firstRunAfterStart = events
      .slice(startIndex + 1)
      .filter((event) => 'runId' in event && event.runId !== secondStart.runId);
    expect(firstRunAfterStart, types.join(' ')).toEqual([]);
    const firstReply = events.findIndex(
      (event) => event.type === 'message-end' && event.message.text === 'reply to: one',
    );
    expect(firstReply, types.join(' ')).toBeGreaterThan(-1);
    expect(firstReply).toBeLessThan(startIndex);
    const firstEnd = events.findIndex(
      (event) => event.type === 'run-end' && event.runId !== secondStart.runId,
    );
    expect(firstEnd).toBeGreaterThan(firstReply);
    expect(firstEnd).toBeLessThan(startIndex);
    expectDeltasAddUp(streamedMessages(events));
  });

  it('window 8: a cancel whose signal never arrives still stops the run (it is durable)', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    chorus.faults.inject('signal', 'fail-before', { times: 100 });
    const hold = chorus.model.holdNextTurn();
    await post(client, threadId, 'long answer please');
    await hold.reached;
    const cancelled = await client.request({ type: 'cancel', threadId }, 'cancelled');
    const runStart = await client.find((frame) => frame.type === 'run-start');
    expect(cancelled.runId).toBe((runStart as FrameOf<'run-start'>).runId);
    hold.release();
    const end = await client.waitFor('message-end');
    expect(end.message.status).toBe('cancelled');
    expect((await client.waitFor('run-end')).reason).toBe('cancelled');
  });

  it('window 9: a cancel between the last message and run-end ends the run cancelled; after it, answers null', async () => {
    const chorus = await instance();
    const { client, threadId } = await participant(chorus);
    const ending = chorus.faults.inject('finishRun', 'pause-before');
    await post(client, threadId, 'short');
    await ending.reached;
    await client.waitFor('message-end');
    const cancelled = await client.request({ type: 'cancel', threadId }, 'cancelled');
    expect(cancelled.runId).not.toBeNull();
    ending.release();
    const end = await client.waitFor('run-end');
    expect(end).toMatchObject({ runId: cancelled.runId, reason: 'cancelled' });
    expect((await client.request({ type: 'cancel', threadId }, 'cancelled')).runId).toBeNull();
    // The answer came first on the canceller's socket, then the run's end.
    expect(client.frames.indexOf(cancelled)).toBeLessThan(client.frames.indexOf(end));
  });

  it('concurrency: many posts at once never queue more than CHORUS_QUEUE_MAX; identical posts are stored once', async () => {
    const chorus = await instance({ env: { CHORUS_QUEUE_MAX: '4' } });
    const { client, threadId } = await participant(chorus);
    const hold = chorus.model.holdNextTurn();
    const first = await post(client, threadId, 'first');
    await hold.reached;
    const posters = await Promise.all(
      Array.from({ length: 6 }, (_, index) => open(chorus, `poster-${index}`)),
    );
    const answers = await Promise.all(
      posters.flatMap((poster, index) =>
        [0, 1, 2, 3].map((n) =>
          poster.request({
            type: 'post',
            threadId,
            clientMessageId: `c-${index}-${n}`,
            text: `p${index}.${n}`,
          }),
        ),
      ),
    );
    const accepted = answers.filter((answer): answer is FrameOf<'posted'> => answer.type === 'posted');
    expect(accepted).toHaveLength(4);
    expect(answers.filter((answer) => answer.type === 'error' && answer.code === 'busy')).toHaveLength(20);
    const same = await Promise.all(
      posters.map((poster) =>
        poster.request({ type: 'post', threadId, clientMessageId: 'c-same', text: 'same' }),
      ),
    );
    // The queue is full: the first of them is refused like the others, and none is stored.
    expect(same.every((answer) => answer.type === 'error' && answer.code === 'busy')).toBe(true);
    hold.release();
    const next = await client.waitFor(
      'run-start',
      (frame) => !frame.posts?.includes(first.messageId),
      10_000,
    );
    expect(new Set(next.posts)).toEqual(new Set(accepted.map((answer) => answer.messageId)));
    await client.waitFor('run-end', (frame) => frame.runId === next.runId, 10_000);
    const again = await Promise.all(
      posters.map((poster) =>
        poster.request({ type: 'post', threadId, clientMessageId: 'c-same', text: 'same' }),
      ),
    );
    const stored = again.filter((answer): answer is FrameOf<'posted'> => answer.type === 'posted');
    expect(stored).toHaveLength(posters.length);
    expect(stored.filter((answer) => !answer.duplicate)).toHaveLength(1);
    expect(new Set(stored.map((answer) => answer.messageId)).size).toBe(1);
    await client.waitFor('run-end', () => true, 10_000);
    const history = await readHistory(client, threadId);
    expect(history.filter((item) => item.text === 'same')).toHaveLength(1);
    expectAnsweredOnce(client, [
      first.messageId,
      ...accepted.map((answer) => answer.messageId),
      stored[0]!.messageId,
    ]);
  });

  if (kind === 'redis') {
    it('window 4: a holder stalled past its lease writes nothing after another instance took over', async () => {
      const prefix = newPrefix();
      const env = { CHORUS_LEASE_MS: '800' };
      const stalled = await instance({ prefix, env });
      const survivor = await instance({ prefix, env });
      const viewer = await open(survivor, 'viewer');
      const poster = await open(stalled);
      const threadId = await createThread(poster);
      await subscribe(viewer, threadId);
      const hold = stalled.model.holdNextTurn();
      // The stalled holder can neither renew nor go on: its lease expires under it.
      const renewals = stalled.faults.inject('renewLease', 'pause-before', { times: 1000 });
      const first = await post(poster, threadId, 'one');
      await hold.reached;
      const staleStart = await viewer.waitFor('run-start');
      const recovered = await viewer.waitFor('run-end', () => true, 10_000);
      expect(recovered).toMatchObject({ runId: staleStart.runId, reason: 'interrupted' });
      const secondPoster = await open(survivor);
      const survivorHold = survivor.model.holdNextTurn();
      const second = await post(secondPoster, threadId, 'two');
      const freshStart = await viewer.waitFor('run-start', () => true, 10_000);
      await survivorHold.reached;
      // The stale holder wakes up mid-message while the new run streams.
      hold.release();
      renewals.release();
      survivorHold.release();
      await viewer.waitFor('run-end', (frame) => frame.runId === freshStart.runId, 10_000);
      await eventually(() => stalled.server.app.runs.activeRuns === 0);
      const events = threadEvents(viewer.frames, threadId);
      const afterRecovery = events.slice(events.indexOf(recovered) + 1);
      expect(afterRecovery.filter((event) => 'runId' in event && event.runId === staleStart.runId)).toEqual(
        [],
      );
      const staleMessageIds = new Set(
        events.flatMap((event) =>
          event.type === 'message-start' && event.runId === staleStart.runId ? [event.messageId] : [],
        ),
      );
      expect(
        afterRecovery.filter(
          (event) =>
            'messageId' in event &&
            typeof event.messageId === 'string' &&
            staleMessageIds.has(event.messageId),
        ),
      ).toEqual([]);
      expectDeltasAddUp(streamedMessages(afterRecovery));
      const history = (await survivor.server.app.store.readLatest(threadId, 100)).items.map(
        (item) => item.message,
      );
      const staleWrites = history.filter((message) => message.runId === staleStart.runId);
      expect(staleWrites.map((message) => message.status)).toEqual(['interrupted']);
      expect(history.map((message) => message.text)).toEqual(['one', 'reply ', 'two', 'reply to: two']);
      expectAnsweredOnce(viewer, [first.messageId, second.messageId]);
    });

    it('window 8: a subscriber resubscribe (a Cluster slot move) or a hole in the live sequence closes viewers with 4011', async () => {
      const prefix = newPrefix();
      const chorus = await instance({ prefix });
      const { client, threadId } = await participant(chorus);
      await post(client, threadId, 'hello');
      await client.waitFor('run-end', () => true, 10_000);
      const inner = chorus.server.app.store as unknown as { simulateSubscriberLoss?: () => void };
      expect(typeof inner.simulateSubscriberLoss).toBe('function');
      inner.simulateSubscriberLoss?.();
      expect((await client.waitForClose()).code).toBe(4011);

      const viewer = await open(chorus, 'viewer');
      const { subscribed } = await subscribe(viewer, threadId);
      const raw = new Redis(redisUrl);
      try {
        const keys = redisKeys(prefix).thread(threadId);
        const last = Number(await raw.get(keys.liveSeq));
        const frame = JSON.stringify({ type: 'message-delta', threadId, messageId: 'x', seq: 1, text: 'x' });
        await raw.publish(keys.channel, `{"liveSeq":${last + 2},"event":${frame}}`);
      } finally {
        await raw.quit();
      }
      expect((await viewer.waitForClose()).code).toBe(4011);
      const resumed = await open(chorus, 'resumed');
      const again = await subscribe(resumed, threadId, subscribed.cursor ?? undefined);
      expect(again.subscribed.recovered).toBe(true);
      expect(again.backlog).toHaveLength(0);
    });

    it('window 10: an orphaned run on a thread nobody watches is recovered by the cluster-wide sweep', async () => {
      const prefix = newPrefix();
      const survivor = await instance({ prefix, env: { CHORUS_LEASE_MS: '600' } });
      const store = survivor.server.app.store;
      const threadId = uniqueId('unwatched');
      await store.createThread({ threadId, team: 'solo' });
      // What an instance that died right after starting a run leaves behind, and a post queued behind it.
      const posted = await store.post({
        threadId,
        message: {
          id: 'm-dead',
          role: 'user',
          author: 'ada',
          text: 'orphaned',
          status: 'completed',
          createdAt: new Date().toISOString(),
          clientMessageId: 'c-dead',
        },
        team: 'solo',
        multitask: 'queue',
        queueMax: 8,
        start: { owner: 'dead-instance', leaseMs: 300, runId: 'dead-run', contextLimit: 10 },
      });
      expect(posted.status === 'stored' && posted.run?.runId).toBe('dead-run');
      if (posted.status !== 'stored' || !posted.run) throw new Error('no run');
      await store.publishRunEvents(posted.run.lease, 'dead-run', [
        { type: 'message-start', threadId, runId: 'dead-run', messageId: 'a-dead', agent: 'solo' },
        { type: 'message-delta', threadId, messageId: 'a-dead', seq: 1, text: 'half' },
      ]);
      await store.post({
        threadId,
        message: {
          id: 'm-next',
          role: 'user',
          author: 'ada',
          text: 'next',
          status: 'completed',
          createdAt: new Date().toISOString(),
          clientMessageId: 'c-next',
        },
        team: 'solo',
        multitask: 'queue',
        queueMax: 8,
      });
      await store.markForSweep(threadId, 0);
      expect(survivor.server.app.runs.activeRuns).toBe(0);
      const history = await eventually(async () => {
        const items = (await store.readLatest(threadId, 10)).items;
        return items.some((item) => item.message.text === 'reply to: next') ? items : null;
      }, 10_000).catch(async (error: unknown) => {
        // What the thread looks like then, for a failure that only a loaded machine shows.
        const items = (await store.readLatest(threadId, 10)).items;
        const state = await store.runState(threadId);
        throw new Error(
          `${String(error)}; history: ${JSON.stringify(items.map((item) => [item.message.text, item.message.status]))}; ` +
            `state: ${JSON.stringify(state)}; active runs: ${survivor.server.app.runs.activeRuns}`,
        );
      });
      expect(history.map((item) => [item.message.text, item.message.status])).toEqual([
        ['orphaned', 'completed'],
        ['next', 'completed'],
        ['half', 'interrupted'],
        ['reply to: next', 'completed'],
      ]);
    });
  }
});

/** Polls a condition (the store's own answers) until it holds; fails after `timeoutMs`. */
async function eventually<T>(probe: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
