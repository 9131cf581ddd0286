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
import { ChorusCluster, expectRunsInSequence, expectTranscriptEqualsHistory, type Instance } from './support.ts';

const redisUrl = inject('redisUrl');

describe('viewers on several instances', () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  const start = async (env: EnvOverrides) => {
    cluster = await ChorusCluster.start({ redisUrl, names: ['A', 'B', 'C'], env });
    return cluster;
  };

  /** One subscribed client per instance, in instance order; the first creates the thread. */
  const viewersOnEveryInstance = async (chorus: ChorusCluster, users: readonly string[]) => {
    const clients = await Promise.all(chorus.instances.map((instance, index) => chorus.connect(instance, users[index] ?? `viewer-${index}`)));
    const threadId = await createThread(clients[0]!);
    await Promise.all(clients.map((client) => subscribe(client, threadId)));
    return { clients, threadId };
  };

  /** Text of `messageId` that `frames` streamed up to and including seq `upTo`. */
  const textUpTo = (frames: readonly Frame[], messageId: string, upTo: number) =>
    frames
      .filter((frame): frame is FrameOf<'message-delta'> => frame.type === 'message-delta' && frame.messageId === messageId && frame.seq <= upTo)
      .map((frame) => frame.text ?? '')
      .join('');

  /** After `subscribed` and its backlog: run-start, message-start, a snapshot equal to the reference's text so far, live from seq + 1. */
  const expectSnapshotJoin = (joiner: TestClient, subscribed: FrameOf<'subscribed'>, reference: TestClient, runId: string) => {
    const joinFrames = joiner.frames.slice(joiner.frames.indexOf(subscribed) + 1 + subscribed.backlog);
    const [runStart, messageStart, snapshot, ...live] = joinFrames;
    expect(runStart).toMatchObject({ type: 'run-start', runId });
    if (messageStart?.type !== 'message-start') throw new Error(`expected message-start, got ${JSON.stringify(messageStart)}`);
    if (snapshot?.type !== 'message-delta') throw new Error(`expected the snapshot delta, got ${JSON.stringify(snapshot)}`);
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
    const chorus = await start({ CHORUS_MAX_ITERATIONS: '3' });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob', 'carol']);
    const [alice, bob, carol] = clients as [TestClient, TestClient, TestClient];

    const posted = await post(alice, threadId, 'Plan a picnic for twelve people');
    const [aliceEvents, bobEvents, carolEvents] = (await Promise.all(clients.map((client) => collectRun(client)))).map((frames) =>
      threadEvents(frames, threadId),
    ) as [ReturnType<typeof threadEvents>, ReturnType<typeof threadEvents>, ReturnType<typeof threadEvents>];
    expect(bobEvents).toEqual(aliceEvents);
    expect(carolEvents).toEqual(aliceEvents);

    expect(aliceEvents[0]).toMatchObject({ type: 'message', cursor: posted.cursor, message: { id: posted.messageId, role: 'user', author: 'alice' } });
    expect(expectRunsInSequence(aliceEvents, 'alice')).toHaveLength(1);
    expect(aliceEvents.at(-1)).toMatchObject({ type: 'run-end', reason: 'max-iterations' });
    const messages = streamedMessages(aliceEvents);
    expect(messages).toHaveLength(3);
    expect(new Set(messages.map((message) => message.agent)).size).toBe(3);
    for (const message of messages) {
      expect(message.seqs).toEqual(message.seqs.map((_, index) => index + 1));
      expect(message.end?.message).toMatchObject({ id: message.messageId, author: message.agent, status: 'completed' });
    }
    expectDeltasAddUp(messages);

    // History, read on another instance, is exactly what the viewers saw.
    const seen = transcript(aliceEvents, threadId);
    expect(seen).toHaveLength(4);
    expect(await readHistory(carol, threadId)).toEqual(seen);
    expect(transcript(bobEvents, threadId)).toEqual(seen);
  });

  it('a viewer that drops mid-message resumes on another instance with its cursor', async () => {
    // 100 tokens/s: a message streams for 0.4–0.8 s, so the drop and the resume land mid-message.
    const chorus = await start({ CHORUS_DEMO_TOKENS_PER_SECOND: '100' });
    const [a, b, c] = chorus.instances as [Instance, Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const bob = await chorus.connect(b, 'bob');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    await post(alice, threadId, 'Write a launch checklist');
    const runStart = await alice.waitFor('run-start');

    // Bob, on B, sees the first agent message end and part of the second, then his network drops.
    const firstEnd = await bob.waitFor('message-end', () => true, 5000);
    const secondStart = await bob.waitFor('message-start');
    await bob.waitFor('message-delta', (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2);
    await bob.terminate();
    const bobSaw = transcript(bob.frames, threadId);
    const bobCursor = bobSaw.at(-1)!.cursor;
    expect(bobCursor).toBe(firstEnd.cursor);

    // The second message completes and the third streams; Bob comes back through C.
    await alice.waitFor('message-end', (end) => end.messageId === secondStart.messageId);
    const thirdStart = await alice.waitFor('message-start');
    await alice.waitFor('message-delta', (delta) => delta.messageId === thirdStart.messageId && delta.seq >= 2);
    const bobAgain = await chorus.connect(c, 'bob');
    const { subscribed, backlog } = await subscribe(bobAgain, threadId, bobCursor);
    expect(subscribed).toMatchObject({ threadId, recovered: true });
    expect(backlog.map((frame) => frame.message.id)).toEqual([secondStart.messageId]);
    expect(subscribed.cursor).toBe(backlog.at(-1)!.cursor);
    const joined = expectSnapshotJoin(bobAgain, subscribed, alice, runStart.runId);
    expect(joined.messageId).toBe(thirdStart.messageId);

    // The joined message ends the same for both; the run is stopped; both hold the same messages.
    const aliceEnd = await alice.waitFor('message-end', (end) => end.messageId === thirdStart.messageId);
    expect(await bobAgain.waitFor('message-end', (end) => end.messageId === thirdStart.messageId)).toEqual(aliceEnd);
    await alice.request({ type: 'cancel', threadId }, 'cancelled');
    await collectRun(alice, runStart.runId);
    await collectRun(bobAgain, runStart.runId);
    const history = await readHistory(bobAgain, threadId);
    expectTranscriptEqualsHistory('alice', transcript(alice.frames, threadId), history);
    expectTranscriptEqualsHistory('bob (two connections)', [...bobSaw, ...transcript(bobAgain.frames, threadId)], history);
    const bobStreamed = streamedMessages(threadEvents(bobAgain.frames, threadId));
    expect(bobStreamed[0]).toMatchObject({ messageId: thirdStart.messageId, snapshot: true });
    expectDeltasAddUp(bobStreamed);
  });

  it('a viewer joining mid-message without a cursor on another instance gets the backlog, the snapshot, then live', async () => {
    const chorus = await start({ CHORUS_DEMO_TOKENS_PER_SECOND: '100', CHORUS_MAX_ITERATIONS: '3' });
    const [a, , c] = chorus.instances as [Instance, Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const carol = await chorus.connect(c, 'carol');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await post(alice, threadId, 'Summarise the meeting');
    const runStart = await alice.waitFor('run-start');
    const firstEnd = await alice.waitFor('message-end');
    const secondStart = await alice.waitFor('message-start');
    await alice.waitFor('message-delta', (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2);

    const { subscribed, backlog } = await subscribe(carol, threadId);
    expect(subscribed).toMatchObject({ recovered: false, truncated: false, cursor: firstEnd.cursor });
    expect(transcript(backlog, threadId)).toEqual(transcript(alice.frames.slice(0, alice.frames.indexOf(firstEnd) + 1), threadId));
    expect(expectSnapshotJoin(carol, subscribed, alice, runStart.runId).messageId).toBe(secondStart.messageId);

    const aliceRun = threadEvents(await collectRun(alice, runStart.runId), threadId);
    await collectRun(carol, runStart.runId);
    const carolEvents = threadEvents(carol.frames, threadId);
    // From the end of the joined message on, Carol's frames are Alice's.
    const aliceSecondEnd = aliceRun.findIndex((event) => event.type === 'message-end' && event.messageId === secondStart.messageId);
    const carolSecondEnd = carolEvents.findIndex((event) => event.type === 'message-end' && event.messageId === secondStart.messageId);
    expect(carolSecondEnd).toBeGreaterThan(0);
    expect(carolEvents.slice(carolSecondEnd)).toEqual(aliceRun.slice(aliceSecondEnd));
    expectDeltasAddUp(streamedMessages(carolEvents));
    expectTranscriptEqualsHistory('carol', transcript(carol.frames, threadId), await readHistory(carol, threadId));
  });

  it('a post on B while the run executes elsewhere is queued and answered by the next run, one run at a time', async () => {
    const chorus = await start({ CHORUS_MAX_ITERATIONS: '3' });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob', 'carol']);
    const [alice, bob] = clients as [TestClient, TestClient, TestClient];

    const first = await post(alice, threadId, 'Plan a picnic for twelve people');
    const firstRun = await alice.waitFor('run-start');
    await bob.waitFor('message-start');
    const second = await post(bob, threadId, 'Then book a train to the lake');
    expect(second.duplicate).toBe(false);

    const runEnds = await Promise.all(
      clients.map((client) => client.waitFor('run-end', (end) => end.runId !== firstRun.runId, 15_000, 'the run-end of the second run')),
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
    const secondMessage = indexOf((event) => event.type === 'message' && event.message.id === second.messageId);
    const firstEnd = indexOf((event) => event.type === 'run-end' && event.runId === runs[0]);
    const secondStart = indexOf((event) => event.type === 'run-start' && event.runId === runs[1]);
    expect(indexOf((event) => event.type === 'message' && event.message.id === first.messageId)).toBe(0);
    expect(secondMessage).toBeGreaterThan(indexOf((event) => event.type === 'run-start' && event.runId === runs[0]));
    expect(secondMessage).toBeLessThan(firstEnd);
    expect(secondStart).toBeGreaterThan(firstEnd);
    // Each run answers its own post (the demo model names the latest user message's topic).
    const answers = streamedMessages(events);
    expect(answers).toHaveLength(6);
    expect(answers[0]?.end?.message.text).toContain('"Plan a picnic for twelve people"');
    expect(answers[3]?.end?.message).toMatchObject({ runId: runs[1] });
    expect(answers[3]?.end?.message.text).toContain('"Then book a train to the"');
    expectDeltasAddUp(answers);
    expectTranscriptEqualsHistory('viewers', transcript(events, threadId), await readHistory(bob, threadId));
  });

  it('a post retried on another instance is a duplicate, stored once, and starts no second run', async () => {
    const chorus = await start({ CHORUS_MAX_ITERATIONS: '1' });
    const [a, b, c] = chorus.instances as [Instance, Instance, Instance];
    const alice = await chorus.connect(a, 'alice');
    const aliceOnB = await chorus.connect(b, 'alice');
    const aliceOnC = await chorus.connect(c, 'alice');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    const clientMessageId = uniqueId('retried');

    const first = await post(alice, threadId, 'Only once, please', clientMessageId);
    expect(first.duplicate).toBe(false);
    const runStart = await alice.waitFor('run-start');
    // The client did not see `posted` (say its connection dropped) and retries through B, then C.
    for (const retry of [aliceOnB, aliceOnC]) {
      const again = await post(retry, threadId, 'Only once, please', clientMessageId);
      expect(again).toMatchObject({ duplicate: true, messageId: first.messageId, cursor: first.cursor });
    }
    await collectRun(alice, runStart.runId);
    // A sentinel post: had a retry queued anything, a run would have started before its message.
    const sentinel = await post(aliceOnB, threadId, 'Anything else?');
    const nextRun = await alice.waitFor('run-start');
    const events = threadEvents(alice.frames, threadId);
    const sentinelIndex = events.findIndex((event) => event.type === 'message' && event.message.id === sentinel.messageId);
    expect(sentinelIndex).toBeGreaterThan(0);
    expect(events.indexOf(nextRun)).toBeGreaterThan(sentinelIndex);
    expect(expectRunsInSequence(events.slice(0, sentinelIndex), 'alice')).toEqual([runStart.runId]);
    await collectRun(alice, nextRun.runId);

    const history = await readHistory(aliceOnC, threadId);
    expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual([first.messageId, sentinel.messageId]);
    expect(events.filter((event) => event.type === 'message').map((event) => event.message.id)).toEqual([first.messageId, sentinel.messageId]);
  });

  it('a cancel sent to one instance stops the run executing on another', async () => {
    const chorus = await start({ CHORUS_DEMO_TOKENS_PER_SECOND: '100' });
    const { clients, threadId } = await viewersOnEveryInstance(chorus, ['alice', 'bob', 'carol']);
    const viewerOn = new Map(chorus.instances.map((instance, index) => [instance, clients[index]!]));
    const [alice] = clients as [TestClient];
    await post(alice, threadId, 'Draft a long essay');
    const runStart = await alice.waitFor('run-start');
    const runner = await chorus.runner(threadId, runStart.runId);
    const other = chorus.instances.find((instance) => instance !== runner)!;
    const canceller = viewerOn.get(other)!;
    const messageStart = await canceller.waitFor('message-start');
    await canceller.waitFor('message-delta', (delta) => delta.messageId === messageStart.messageId && delta.seq >= 3);

    const cancelled = await canceller.request({ type: 'cancel', threadId }, 'cancelled');
    expect(cancelled).toMatchObject({ threadId, runId: runStart.runId });
    const runEnd = await canceller.waitFor('run-end', (end) => end.runId === runStart.runId);
    expect(runEnd.reason).toBe('cancelled');
    // After `cancelled`: late deltas of the message in flight, its message-end `cancelled`, run-end.
    const afterCancel = threadEvents(canceller.frames.slice(canceller.frames.indexOf(cancelled) + 1, canceller.frames.indexOf(runEnd) + 1), threadId);
    const end = afterCancel.find((event) => event.type === 'message-end');
    if (end?.type !== 'message-end') throw new Error(`no message-end after cancelled: ${canceller.summary(afterCancel)}`);
    expect(afterCancel.filter((event) => event.type !== 'message-delta')).toEqual([end, runEnd]);
    expect(end.message).toMatchObject({ id: messageStart.messageId, status: 'cancelled', runId: runStart.runId });

    // Every viewer, the runner's included, saw the same; the partial text is what was streamed and stored.
    for (const client of clients) {
      await collectRun(client, runStart.runId);
      expect(threadEvents(client.frames, threadId)).toEqual(threadEvents(canceller.frames, threadId));
    }
    const streamed = streamedMessages(threadEvents(canceller.frames, threadId));
    expect(streamed.at(-1)?.end).toEqual(end);
    expectDeltasAddUp(streamed);
    expect(end.message.text.length).toBeGreaterThan(0);
    expect((await readHistory(viewerOn.get(runner)!, threadId)).at(-1)).toMatchObject({ id: end.messageId, status: 'cancelled', text: end.message.text });
  });
});
