// Stories of viewers spread over three Chorus processes that share one Redis: every viewer sees
// the same frames wherever it is connected; a viewer that drops resumes on another instance with
// its cursor; a late joiner on another instance gets the in-flight message; posts, retries and
// cancels sent to one instance act on the run executing on another, one run at a time.
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Frame, FrameOf, TestClient } from '../support/ws-client.ts';
import type { EnvOverrides } from '../support/server.ts';
import {
  collectRun,
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
  SLOW_TOKENS,
  STORY_TIMEOUT_MS,
  type Instance,
} from './support.ts';

const redisUrl = inject('redisUrl');

describe('viewers on several instances', { timeout: STORY_TIMEOUT_MS }, () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  const start = async (names: readonly string[], env: EnvOverrides) => {
    cluster = await ChorusCluster.start({ redisUrl, names, env });
    return cluster;
  };

  /** One subscribed client per instance, in instance order; the first creates the thread. */
  const viewersOnEveryInstance = async (chorus: ChorusCluster, users: readonly string[]) => {
    const clients = await Promise.all(
      chorus.instances.map((instance, index) => chorus.connect(instance, users[index] ?? `viewer-${index}`)),
    );
    const threadId = await createThread(clients[0]!);
    await Promise.all(clients.map((client) => subscribe(client, threadId)));
    return { clients, threadId };
  };

  /** Text of `messageId` that `frames` streamed up to and including seq `upTo`. */
  const textUpTo = (frames: readonly Frame[], messageId: string, upTo: number) =>
    frames
      .filter(
        (frame): frame is FrameOf<'message-delta'> =>
          frame.type === 'message-delta' && frame.messageId === messageId && frame.seq <= upTo,
      )
      .map((frame) => frame.text ?? '')
      .join('');

  /** After `subscribed` and its backlog: run-start, message-start, a snapshot equal to the reference's text so far, live from seq + 1. */
  const expectSnapshotJoin = async (
    joiner: TestClient,
    subscribed: FrameOf<'subscribed'>,
    reference: TestClient,
    runId: string,
  ) => {
    await joiner.framesAfter(subscribed, subscribed.backlog + 3, {
      description: 'run-start, message-start and the snapshot after the backlog',
    });
    const joinFrames = joiner.frames.slice(joiner.frames.indexOf(subscribed) + 1 + subscribed.backlog);
    const [runStart, messageStart, snapshot, ...live] = joinFrames;
    expect(runStart).toMatchObject({ type: 'run-start', runId });
    if (messageStart?.type !== 'message-start')
      throw new Error(`expected message-start, got ${JSON.stringify(messageStart)}`);
    if (snapshot?.type !== 'message-delta')
      throw new Error(`expected the snapshot delta, got ${JSON.stringify(snapshot)}`);
    expect(snapshot).toMatchObject({ messageId: messageStart.messageId, snapshot: true });
    expect(snapshot.seq).toBeGreaterThan(0);
    expect(snapshot.text).toBe(textUpTo(reference.frames, messageStart.messageId, snapshot.seq));
    const firstLive = live.find((frame) => frame.type === 'message-delta');
    if (firstLive?.type === 'message-delta') {
      expect(firstLive).toMatchObject({ messageId: messageStart.messageId, seq: snapshot.seq + 1 });
    }
    return messageStart;
  };

  it('a run posted through A reaches viewers on A, B and C as the same frames in the same order', async () => {
    const chorus = await start(['A', 'B', 'C'], { CHORUS_MAX_ITERATIONS: '3' });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob', 'carol']);
    const [alice, , carol] = clients as [TestClient, TestClient, TestClient];

    const posted = await post(alice, threadId, 'Plan a picnic for twelve people');
    const eventsOf = await Promise.all(
      clients.map(async (client) => threadEvents(await collectRun(client), threadId)),
    );
    const aliceEvents = eventsOf[0]!;
    expect(eventsOf[1], 'bob on B').toEqual(aliceEvents);
    expect(eventsOf[2], 'carol on C').toEqual(aliceEvents);

    expect(aliceEvents[0]).toMatchObject({
      type: 'message',
      cursor: posted.cursor,
      message: { id: posted.messageId, role: 'user', author: 'alice' },
    });
    expect(expectRunsInSequence(aliceEvents, 'alice')).toHaveLength(1);
    expect(aliceEvents.at(-1)).toMatchObject({ type: 'run-end', reason: 'max-iterations' });
    const messages = streamedMessages(aliceEvents);
    expect(messages).toHaveLength(3);
    expect(new Set(messages.map((message) => message.agent)).size).toBe(3);
    for (const message of messages) {
      expect(message.seqs).toEqual(message.seqs.map((_, index) => index + 1));
      expect(message.end?.message).toMatchObject({
        id: message.messageId,
        author: message.agent,
        status: 'completed',
      });
    }
    expectDeltasAddUp(messages);

    // History, read on another instance, is exactly what the viewers saw.
    const seen = transcript(aliceEvents, threadId);
    expect(seen).toHaveLength(4);
    expect(await readHistory(carol, threadId)).toEqual(seen);
  });

  it('a viewer that drops mid-message resumes on another instance with its cursor; one joining without a cursor gets the snapshot', async () => {
    const chorus = await start(['A', 'B', 'C'], {
      CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS,
      CHORUS_MAX_ITERATIONS: '2',
    });
    const [a, b, c] = chorus.instances as [Instance, Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const bob = await chorus.connect(b, 'bob');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    const posted = await post(alice, threadId, 'Write a launch checklist');
    const runStart = await alice.waitFor('run-start');

    // Bob, on B, sees part of the first agent message, then his network drops.
    const firstStart = await bob.waitFor('message-start');
    await bob.waitFor('message-delta', (delta) => delta.messageId === firstStart.messageId && delta.seq >= 2);
    await bob.terminate();
    const bobSaw = transcript(bob.frames, threadId);
    expect(bobSaw.map((entry) => entry.id)).toEqual([posted.messageId]);
    const bobCursor = posted.cursor;

    // Meanwhile Carol opens the thread on C, without a cursor: the latest backlog, the snapshot, then live.
    const carol = await chorus.connect(c, 'carol');
    const carolJoin = await subscribe(carol, threadId);
    expect(carolJoin.subscribed).toMatchObject({ recovered: false, truncated: false, cursor: posted.cursor });
    expect(transcript(carolJoin.backlog, threadId)).toEqual(bobSaw);
    expect((await expectSnapshotJoin(carol, carolJoin.subscribed, alice, runStart.runId)).messageId).toBe(
      firstStart.messageId,
    );

    // The first message completes and the second streams; Bob comes back through C.
    await alice.waitFor('message-end', (end) => end.messageId === firstStart.messageId);
    const secondStart = await alice.waitFor('message-start');
    await alice.waitFor(
      'message-delta',
      (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2,
    );
    const bobAgain = await chorus.connect(c, 'bob');
    const { subscribed, backlog } = await subscribe(bobAgain, threadId, bobCursor);
    expect(subscribed).toMatchObject({ threadId, recovered: true });
    // Exactly the message stored while he was away, once.
    expect(backlog.map((frame) => frame.message.id)).toEqual([firstStart.messageId]);
    expect(subscribed.cursor).toBe(backlog.at(-1)!.cursor);
    expect((await expectSnapshotJoin(bobAgain, subscribed, alice, runStart.runId)).messageId).toBe(
      secondStart.messageId,
    );

    // The run ends; the three viewers hold the same messages, which are the history.
    for (const client of [alice, bobAgain, carol]) await collectRun(client, runStart.runId);
    const aliceEnd = alice.frames.find(
      (frame) => frame.type === 'message-end' && frame.messageId === secondStart.messageId,
    );
    expect(
      bobAgain.frames.find(
        (frame) => frame.type === 'message-end' && frame.messageId === secondStart.messageId,
      ),
    ).toEqual(aliceEnd);
    const history = await readHistory(bobAgain, threadId);
    expect(history).toHaveLength(3);
    expectTranscriptEqualsHistory('alice', transcript(alice.frames, threadId), history);
    expectTranscriptEqualsHistory(
      'bob (two connections)',
      [...bobSaw, ...transcript(bobAgain.frames, threadId)],
      history,
    );
    expectTranscriptEqualsHistory('carol', transcript(carol.frames, threadId), history);
    // Snapshot text + live deltas add up to each stored text; from the end of the message they
    // joined on, the joiners' frames are Alice's.
    const aliceEvents = threadEvents(alice.frames, threadId);
    for (const [joiner, joinedOn] of [
      [carol, firstStart.messageId],
      [bobAgain, secondStart.messageId],
    ] as const) {
      const events = threadEvents(joiner.frames, threadId);
      const streamed = streamedMessages(events);
      expect(streamed[0]).toMatchObject({ messageId: joinedOn, snapshot: true });
      expectDeltasAddUp(streamed);
      const endOf = (list: typeof events) =>
        list.findIndex((event) => event.type === 'message-end' && event.messageId === joinedOn);
      expect(endOf(events)).toBeGreaterThan(0);
      expect(events.slice(endOf(events))).toEqual(aliceEvents.slice(endOf(aliceEvents)));
    }
  });

  it('a post on the instance that does not run the thread is queued and answered by the next run; its retry through the other is a duplicate', async () => {
    // 100 tokens/s: the first run lasts over a second, so the second post lands during it.
    const chorus = await start(['A', 'B'], {
      CHORUS_DEMO_TOKENS_PER_SECOND: '100',
      CHORUS_MAX_ITERATIONS: '2',
    });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob']);
    const [alice, bob] = clients as [TestClient, TestClient];

    const first = await post(alice, threadId, 'Plan a picnic for twelve people');
    const firstRun = await bob.waitFor('run-start');
    // The post went to A, which normally runs it; the second post goes to the other instance.
    const runner = await chorus.runner(threadId, firstRun.runId);
    const [onRunner, elsewhere] = runner === chorus.instances[0] ? [alice, bob] : [bob, alice];
    const retried = uniqueId('retried');
    const second = await post(elsewhere, threadId, 'Then book a train to the lake', retried);
    expect(second.duplicate).toBe(false);
    // The client did not see `posted` (say its connection dropped) and retries through the runner: stored once.
    const again = await post(onRunner, threadId, 'Then book a train to the lake', retried);
    expect(again).toMatchObject({ duplicate: true, messageId: second.messageId, cursor: second.cursor });

    const runEnds = await Promise.all(
      clients.map((client) =>
        client.waitFor(
          'run-end',
          (end) => end.runId !== firstRun.runId,
          15_000,
          'the run-end of the second run',
        ),
      ),
    );
    const eventsOf = clients.map((client) => threadEvents(client.frames, threadId));
    for (const [index, events] of eventsOf.entries()) expect(events, `viewer ${index}`).toEqual(eventsOf[0]);
    const events = eventsOf[0]!;
    const runs = expectRunsInSequence(events, 'alice');
    expect(runs).toHaveLength(2);
    expect(runs[0]).toBe(firstRun.runId);
    expect(runEnds[0]).toMatchObject({ runId: runs[1], reason: 'max-iterations' });

    // The second post was stored during the first run and started the second one, after the first run-end.
    const indexOf = (predicate: (event: (typeof events)[number]) => boolean) => events.findIndex(predicate);
    const secondMessage = indexOf(
      (event) => event.type === 'message' && event.message.id === second.messageId,
    );
    const firstEnd = indexOf((event) => event.type === 'run-end' && event.runId === runs[0]);
    const secondStart = indexOf((event) => event.type === 'run-start' && event.runId === runs[1]);
    expect(indexOf((event) => event.type === 'message' && event.message.id === first.messageId)).toBe(0);
    expect(secondMessage).toBeGreaterThan(
      indexOf((event) => event.type === 'run-start' && event.runId === runs[0]),
    );
    expect(secondMessage).toBeLessThan(firstEnd);
    expect(secondStart).toBeGreaterThan(firstEnd);
    // Each run answers its own post (the demo model names the latest user message's topic).
    const answers = streamedMessages(events);
    expect(answers).toHaveLength(4);
    expect(answers[0]?.end?.message.text).toContain('"Plan a picnic for twelve people"');
    expect(answers[2]?.end?.message).toMatchObject({ runId: runs[1] });
    expect(answers[2]?.end?.message.text).toContain('"Then book a train to the"');
    expectDeltasAddUp(answers);
    const history = await readHistory(bob, threadId);
    expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual([
      first.messageId,
      second.messageId,
    ]);
    expect(events.filter((event) => event.type === 'message').map((event) => event.message.id)).toEqual([
      first.messageId,
      second.messageId,
    ]);
    expectTranscriptEqualsHistory('viewers', transcript(events, threadId), history);
  });

  it('a cancel sent to one instance stops the run executing on another', async () => {
    const chorus = await start(['A', 'B'], { CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob']);
    const viewerOn = new Map(chorus.instances.map((instance, index) => [instance, clients[index]!]));
    const [alice] = clients as [TestClient];
    await post(alice, threadId, 'Draft a long essay');
    const runStart = await alice.waitFor('run-start');
    const runner = await chorus.runner(threadId, runStart.runId);
    const other = chorus.instances.find((instance) => instance !== runner)!;
    const canceller = viewerOn.get(other)!;
    const messageStart = await canceller.waitFor('message-start');
    await canceller.waitFor(
      'message-delta',
      (delta) => delta.messageId === messageStart.messageId && delta.seq >= 3,
    );

    const cancelled = await canceller.request({ type: 'cancel', threadId }, 'cancelled');
    expect(cancelled).toMatchObject({ threadId, runId: runStart.runId });
    const runEnd = await canceller.waitFor('run-end', (end) => end.runId === runStart.runId);
    expect(runEnd.reason).toBe('cancelled');
    // After `cancelled`: late deltas of the message in flight, its message-end `cancelled`, run-end.
    const afterCancel = threadEvents(
      canceller.frames.slice(canceller.frames.indexOf(cancelled) + 1, canceller.frames.indexOf(runEnd) + 1),
      threadId,
    );
    const end = afterCancel.find((event) => event.type === 'message-end');
    if (end?.type !== 'message-end')
      throw new Error(`no message-end after cancelled: ${canceller.summary(afterCancel)}`);
    expect(afterCancel.filter((event) => event.type !== 'message-delta')).toEqual([end, runEnd]);
    expect(end.message).toMatchObject({
      id: messageStart.messageId,
      status: 'cancelled',
      runId: runStart.runId,
    });

    // Every viewer, the runner's included, saw the same; the partial text is what was streamed and stored.
    for (const client of clients) {
      if (client !== canceller) await client.waitFor('run-end', (frame) => frame.runId === runStart.runId);
      expect(threadEvents(client.frames, threadId)).toEqual(threadEvents(canceller.frames, threadId));
    }
    const streamed = streamedMessages(threadEvents(canceller.frames, threadId));
    expect(streamed.at(-1)?.end).toEqual(end);
    expectDeltasAddUp(streamed);
    expect(end.message.text.length).toBeGreaterThan(0);
    expect((await readHistory(viewerOn.get(runner)!, threadId)).at(-1)).toMatchObject({
      id: end.messageId,
      status: 'cancelled',
      text: end.message.text,
    });
  });
});
