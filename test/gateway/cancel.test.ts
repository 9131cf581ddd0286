// Story: a participant cancels a run mid-message. The requester gets `cancelled` with the run's
// id first; then every viewer sees the message end as `cancelled` (its partial text stored) and
// the run end `cancelled`; a post that waited in the queue then gets its own run.
import { describe, expect, it } from 'vitest';
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
} from './thread-frames.ts';
import { gatewayStory } from './story.ts';

describe('cancel', () => {
  // 100 tokens/s: a message streams for 0.4–0.8 s, so the cancel lands mid-message.
  const story = gatewayStory({ CHORUS_DEMO_TOKENS_PER_SECOND: '100' });
  const { open } = story;

  it('stops the run mid-message: cancelled, then message-end cancelled with the partial text, then run-end; the queued post runs next', async () => {
    const alice = await open('alice');
    const viewer = await open('viewer');
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    await subscribe(viewer, threadId);
    await post(alice, threadId, 'Draft a long essay');
    const runStart = await alice.waitFor('run-start');
    const messageStart = await alice.waitFor('message-start');
    await alice.waitFor(
      'message-delta',
      (delta) => delta.messageId === messageStart.messageId && delta.seq >= 3,
    );
    const queued = await post(alice, threadId, 'Then a short summary');

    const cancelled = await alice.request({ type: 'cancel', threadId }, 'cancelled');
    expect(cancelled).toMatchObject({ threadId, runId: runStart.runId });
    const runEnd = await alice.waitFor('run-end', (frame) => frame.runId === runStart.runId);
    expect(runEnd.reason).toBe('cancelled');
    // After `cancelled`: (late deltas of) the message in flight, its message-end `cancelled`, run-end.
    const afterCancel = threadEvents(
      alice.frames.slice(alice.frames.indexOf(cancelled) + 1, alice.frames.indexOf(runEnd) + 1),
      threadId,
    );
    const ends = afterCancel.filter((frame) => frame.type === 'message-end');
    expect(ends, `after cancelled: ${alice.summary(afterCancel)}`).toHaveLength(1);
    const end = ends[0]!;
    expect(afterCancel.filter((frame) => frame.type !== 'message-delta')).toEqual([end, runEnd]);
    for (const frame of afterCancel)
      if (frame.type === 'message-delta') expect(frame.messageId).toBe(end.messageId);
    const endStart = alice.frames.find(
      (frame) => frame.type === 'message-start' && frame.messageId === end.messageId,
    );
    expect(endStart).toBeDefined();
    expect(end.message).toMatchObject({ id: end.messageId, status: 'cancelled', runId: runStart.runId });
    expect(end.message.text.length).toBeGreaterThan(0);
    // The partial text is what was streamed: the message's deltas add up to it.
    const firstRun = threadEvents(alice.frames.slice(0, alice.frames.indexOf(runEnd) + 1), threadId);
    const streamed = streamedMessages(firstRun);
    expect(streamed.at(-1)?.end).toEqual(end);
    expect(streamed.slice(0, -1).every((message) => message.end?.message.status === 'completed')).toBe(true);
    expectDeltasAddUp(streamed);
    // Nothing of the cancelled run after its run-end.
    const nextRunStart = await alice.waitFor('run-start');
    expect(nextRunStart.runId).not.toBe(runStart.runId);
    const between = alice.frames.slice(alice.frames.indexOf(runEnd) + 1, alice.frames.indexOf(nextRunStart));
    expect(threadEvents(between, threadId).filter((frame) => frame.type !== 'message')).toEqual([]);

    // The queued post's run streams (then is cancelled too, to keep the test short); the viewer
    // saw the same thread events.
    await alice.waitFor('message-delta');
    expect((await alice.request({ type: 'cancel', threadId }, 'cancelled')).runId).toBe(nextRunStart.runId);
    await collectRun(alice, nextRunStart.runId);
    await collectRun(viewer, nextRunStart.runId);
    expect(threadEvents(viewer.frames, threadId)).toEqual(threadEvents(alice.frames, threadId));
    const history = await readHistory(viewer, threadId);
    expect(history).toEqual(transcript(alice.frames, threadId));
    expect(history.find((entry) => entry.id === end.messageId)).toMatchObject({
      status: 'cancelled',
      text: end.message.text,
    });
    expect(history.map((entry) => entry.id)).toContain(queued.messageId);
  });

  it('answers runId null when no run is active', async () => {
    const alice = await open('alice');
    const threadId = await createThread(alice);
    const idle = await alice.request({ type: 'cancel', threadId }, 'cancelled');
    expect(idle).toMatchObject({ threadId, runId: null });

    // And after a run has ended.
    await subscribe(alice, threadId);
    await post(alice, threadId, 'Quick one');
    const runStart = await alice.waitFor('run-start');
    await alice.request({ type: 'cancel', threadId }, 'cancelled');
    await collectRun(alice, runStart.runId);
    const after = await alice.request({ type: 'cancel', threadId }, 'cancelled');
    expect(after.runId).toBeNull();
  });
});
