// Story: viewers join or come back while an agent is mid-message. A returning viewer with its
// last cursor gets every completed message it missed exactly once, then the in-flight message as
// a snapshot, then the live rest; a viewer without a cursor gets the latest backlog and the same
// snapshot; a cursor the thread does not know is answered `recovered: false`.
import { describe, expect, it } from 'vitest';
import type { Frame, FrameOf, TestClient } from '../support/ws-client.ts';
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
  type TranscriptEntry,
} from './thread-frames.ts';
import { gatewayStory } from './story.ts';

/** Slow enough that a message (40–80 tokens) streams for 400–800 ms: joins land mid-message. */
const SLOW = { CHORUS_DEMO_TOKENS_PER_SECOND: '100' };

describe('resume and mid-message joins', () => {
  const story = gatewayStory(SLOW);
  const { open } = story;

  /** Text of `messageId` that `frames` streamed up to and including seq `upTo`. */
  const textUpTo = (frames: readonly Frame[], messageId: string, upTo: number) =>
    frames
      .filter(
        (frame): frame is FrameOf<'message-delta'> =>
          frame.type === 'message-delta' && frame.messageId === messageId && frame.seq <= upTo,
      )
      .map((frame) => frame.text ?? '')
      .join('');

  /**
   * Checks what a joiner received after `subscribed`: the backlog, then run-start, message-start
   * and a snapshot of the in-flight message whose text is what the reference viewer had streamed
   * up to the snapshot's seq, then live deltas from seq + 1.
   */
  const expectSnapshotJoin = async (
    joinerFrames: readonly Frame[],
    backlog: number,
    reference: TestClient,
    runId: string,
  ) => {
    const [runStart, messageStart, snapshot, ...live] = joinerFrames.slice(1 + backlog);
    expect(runStart).toMatchObject({ type: 'run-start', runId });
    if (messageStart?.type !== 'message-start')
      throw new Error(`expected message-start, got ${JSON.stringify(messageStart)}`);
    if (snapshot?.type !== 'message-delta')
      throw new Error(`expected the snapshot delta, got ${JSON.stringify(snapshot)}`);
    expect(snapshot).toMatchObject({ messageId: messageStart.messageId, snapshot: true });
    // The reference viewer may not have read that far yet on its own socket.
    await reference.find(
      (frame) =>
        frame.type === 'message-delta' &&
        frame.messageId === messageStart.messageId &&
        frame.seq >= snapshot.seq,
      { description: `delta ${snapshot.seq} of ${messageStart.messageId} on the reference viewer` },
    );
    expect(snapshot.text).toBe(textUpTo(reference.frames, messageStart.messageId, snapshot.seq));
    const firstLive = live.find((frame) => frame.type === 'message-delta');
    if (firstLive?.type === 'message-delta') {
      expect(firstLive.messageId).toBe(messageStart.messageId);
      expect(firstLive.seq).toBe(snapshot.seq + 1);
    }
    return { messageStart, snapshot };
  };

  const byId = (entries: readonly TranscriptEntry[]) => new Map(entries.map((entry) => [entry.id, entry]));

  it('a viewer that drops mid-message resumes with its cursor: missed messages once, snapshot, then live', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    await post(alice, threadId, 'Write a launch checklist');
    const runStart = await alice.waitFor('run-start');

    // Bob sees the first agent message complete, and part of the second, then his network drops.
    const firstEnd = await bob.waitFor('message-end', () => true, 5000);
    const secondStart = await bob.waitFor('message-start');
    await bob.waitFor(
      'message-delta',
      (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2,
    );
    await bob.terminate();
    const bobSaw = transcript(bob.frames, threadId);
    const bobCursor = bobSaw.at(-1)!.cursor;
    expect(bobCursor).toBe(firstEnd.cursor);
    const bobAgain = await open('bob');

    // Meanwhile the second message completes and the third is streaming.
    await alice.waitFor('message-end', (end) => end.messageId === secondStart.messageId);
    const thirdStart = await alice.waitFor('message-start');
    await alice.waitFor(
      'message-delta',
      (delta) => delta.messageId === thirdStart.messageId && delta.seq >= 2,
    );

    const { subscribed, backlog } = await subscribe(bobAgain, threadId, bobCursor);
    expect(subscribed).toMatchObject({ threadId, recovered: true });
    expect(subscribed.backlog).toBeGreaterThanOrEqual(1);
    // Exactly the messages stored after Bob's cursor, once each, in order.
    const storedNow = await readHistory(alice, threadId);
    const missed = storedNow.slice(storedNow.findIndex((entry) => entry.cursor === bobCursor) + 1);
    expect(transcript(backlog, threadId)).toEqual(missed.slice(0, backlog.length));
    expect(backlog[0]?.message.id).toBe(secondStart.messageId);
    expect(subscribed.cursor).toBe(backlog.at(-1)!.cursor);

    // The snapshot (run-start, message-start, snapshot delta) follows the backlog.
    await bobAgain.framesAfter(subscribed, backlog.length + 3);
    const joinFrames = bobAgain.frames.slice(bobAgain.frames.indexOf(subscribed));
    const { messageStart } = await expectSnapshotJoin(joinFrames, backlog.length, alice, runStart.runId);
    expect(backlog.map((frame) => frame.message.id)).not.toContain(messageStart.messageId);

    // The joined message ends the same for both; then the run is stopped and both have the same
    // messages, with the same final texts.
    const aliceEnd = await alice.waitFor('message-end', (end) => end.messageId === messageStart.messageId);
    expect(await bobAgain.waitFor('message-end', (end) => end.messageId === messageStart.messageId)).toEqual(
      aliceEnd,
    );
    await alice.request({ type: 'cancel', threadId }, 'cancelled');
    await collectRun(alice, runStart.runId);
    await collectRun(bobAgain, runStart.runId);
    const aliceMessages = byId(transcript(alice.frames, threadId));
    const bobMessages = byId([...bobSaw, ...transcript(bobAgain.frames, threadId)]);
    expect([...bobMessages.entries()]).toEqual([...aliceMessages.entries()]);
    // No message arrived twice across Bob's two connections.
    expect(bobSaw.length + transcript(bobAgain.frames, threadId).length).toBe(bobMessages.size);
    expect([...aliceMessages.values()]).toEqual(await readHistory(alice, threadId));

    // Bob's live stream after the join adds up like Alice's (snapshot text + live deltas).
    const bobStreamed = streamedMessages(threadEvents(bobAgain.frames, threadId));
    expect(bobStreamed[0]?.snapshot).toBe(true);
    expectDeltasAddUp(bobStreamed);
    expectDeltasAddUp(streamedMessages(threadEvents(alice.frames, threadId)));
  });

  it('a viewer joining mid-message without a cursor gets the latest backlog, the snapshot, then live', async () => {
    const alice = await open('alice');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    const carol = await open('carol');
    await post(alice, threadId, 'Summarise the meeting');
    const runStart = await alice.waitFor('run-start');
    const firstEnd = await alice.waitFor('message-end');
    const secondStart = await alice.waitFor('message-start');
    await alice.waitFor(
      'message-delta',
      (delta) => delta.messageId === secondStart.messageId && delta.seq >= 2,
    );

    const { subscribed, backlog } = await subscribe(carol, threadId);
    expect(subscribed).toMatchObject({ recovered: false, truncated: false, cursor: firstEnd.cursor });
    // The snapshot (run-start, message-start, snapshot delta) follows the backlog.
    await carol.framesAfter(subscribed, backlog.length + 3);
    const joinFrames = carol.frames.slice(carol.frames.indexOf(subscribed));
    const { messageStart } = await expectSnapshotJoin(joinFrames, backlog.length, alice, runStart.runId);
    expect(messageStart.messageId).toBe(secondStart.messageId);
    // The second message was in flight: the backlog is everything stored before it.
    expect(transcript(backlog, threadId)).toEqual(
      transcript(alice.frames.slice(0, alice.frames.indexOf(firstEnd) + 1), threadId),
    );

    // The in-flight message ends the same for both: snapshot + live deltas = stored text.
    const aliceEnd = await alice.waitFor('message-end', (end) => end.messageId === secondStart.messageId);
    const carolEnd = await carol.waitFor('message-end', (end) => end.messageId === secondStart.messageId);
    expect(carolEnd).toEqual(aliceEnd);
    expectDeltasAddUp(streamedMessages(threadEvents(carol.frames, threadId)));
  });

  it('an unknown or foreign cursor is answered recovered: false with the latest backlog', async () => {
    const alice = await open('alice');
    const threadId = await createThread(alice);
    const otherThreadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(alice, otherThreadId);
    const posted = await post(alice, threadId, 'First question');
    const foreign = await post(alice, otherThreadId, 'Elsewhere');
    await alice.waitFor('message-end', (frame) => frame.threadId === threadId);
    // Stop the run so that the thread's history holds still while the cursors are tried.
    const cancelled = await alice.request({ type: 'cancel', threadId }, 'cancelled');
    await collectRun(alice, cancelled.runId ?? undefined);
    const stored = await readHistory(alice, threadId);
    expect(stored.length).toBeGreaterThanOrEqual(3);

    for (const cursor of [foreign.cursor, 'not-a-cursor-we-issued', `${posted.cursor}0000`]) {
      const dave = await open('dave');
      const { subscribed, backlog } = await subscribe(dave, threadId, cursor);
      expect(subscribed, `cursor ${cursor}`).toMatchObject({
        recovered: false,
        truncated: false,
        cursor: stored.at(-1)!.cursor,
      });
      expect(transcript(backlog, threadId)).toEqual(stored);
    }
    // The same thread with a cursor it issued: recovered, the rest of the history.
    const erin = await open('erin');
    const { subscribed, backlog } = await subscribe(erin, threadId, posted.cursor);
    expect(subscribed).toMatchObject({
      recovered: true,
      cursor: stored.at(-1)!.cursor,
      backlog: stored.length - 1,
    });
    expect(transcript(backlog, threadId)).toEqual(stored.slice(1));
  });
});
