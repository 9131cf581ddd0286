// Story: the instance running a thread stalls (SIGSTOP: sockets open, nothing runs — a long GC pause,
// a frozen VM) mid-message, past its lease. The other instance recovers the run (`interrupted`) and
// runs the next post; then the stalled one resumes (SIGCONT) with its run still in memory. Its late
// writes are fenced: history and the live stream hold nothing from it, its renewal fails and it stops
// the run; viewers on both instances see the new run intact, and every post is answered once.
// (redis-stall.test.ts stalls Redis instead: the holder's commands time out, nobody takes over.)
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createThread, expectDeltasAddUp, streamedMessages } from '../gateway/thread-frames.ts';
import {
  auditPosts,
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  LEASE_MS,
  poll,
  Poster,
  runsSeen,
  SLOW_TOKENS,
  storedHistory,
  Viewer,
  waitForQuiescence,
  type Instance,
} from './support.ts';

const redisUrl = inject('redisUrl');
const BOUND_MS = LEASE_MS + 15_000;

/** The instance's `chorus_runs_active` gauge (undefined when it does not answer). */
async function runsActive(instance: Instance): Promise<number | undefined> {
  try {
    const response = await fetch(`${instance.url}/metrics`, { signal: AbortSignal.timeout(1000) });
    const match = /^chorus_runs_active (\d+)$/m.exec(await response.text());
    return match ? Number(match[1]) : undefined;
  } catch (error) {
    if (error instanceof Error) return undefined;
    throw error;
  }
}

describe('an instance stalled past its lease', { timeout: 90_000 }, () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('SIGSTOPped mid-message, then SIGCONTed after another took over: fenced, stops its run, viewers everywhere see the new run intact', async () => {
    const chorus = await ChorusCluster.start({
      redisUrl,
      names: ['A', 'B'],
      env: { CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS, CHORUS_MAX_ITERATIONS: '2' },
    });
    cluster = chorus;
    const [a, b] = chorus.instances as [Instance, Instance];
    const setup = await chorus.connect(a, 'setup');
    const threadId = await createThread(setup);
    await setup.close();
    const onA = new Viewer(chorus, 'viewer-on-A', threadId);
    await onA.open(a);
    onA.resumeAutomatically(() => a);
    const onB = new Viewer(chorus, 'viewer-on-B', threadId);
    await onB.open(b);
    onB.resumeAutomatically(() => b);

    let target = a;
    const participant = new Poster(chorus, 'participant', threadId, () => target);
    const first = {
      text: 'Draft the incident report',
      posted: await participant.post('Draft the incident report', 'stall-1'),
    };
    const staleRun = await onB.waitForEvent(
      'run-start',
      (start) => (start.posts ?? []).includes(first.posted.messageId),
      10_000,
    );
    expect(await chorus.runner(threadId, staleRun.runId)).toBe(a);
    const inFlight = await onB.waitForEvent(
      'message-start',
      (start) => start.runId === staleRun.runId,
      10_000,
    );
    await onB.waitForEvent(
      'message-delta',
      (delta) => delta.messageId === inFlight.messageId && delta.seq >= 2,
      10_000,
    );
    expect(await runsActive(a)).toBe(1);

    chorus.pause(a);
    target = b;
    try {
      // B recovers the run once A's lease expired (its viewer's thread is swept), then runs a new post.
      const recovered = await onB.waitForEvent(
        'run-end',
        (end) => end.runId === staleRun.runId,
        BOUND_MS,
        'the recovered run-end',
      );
      expect(recovered.reason).toBe('interrupted');
      const second = await participant.post('Then the follow-up actions', 'stall-2');
      const newRun = await onB.waitForEvent(
        'run-start',
        (start) => (start.posts ?? []).includes(second.messageId),
        BOUND_MS,
      );
      expect(await chorus.runner(threadId, newRun.runId)).toBe(b);
      const newMessage = await onB.waitForEvent(
        'message-start',
        (start) => start.runId === newRun.runId,
        10_000,
      );
      await onB.waitForEvent(
        'message-delta',
        (delta) => delta.messageId === newMessage.messageId && delta.seq >= 2,
        10_000,
      );
      chorus.resume(a);

      // A wakes with run `staleRun` in memory: its renewal (or its next write) is refused, and it stops.
      await poll('A to stop its stale run', BOUND_MS, async () =>
        (await runsActive(a)) === 0 ? true : undefined,
      );
      await onB.waitForEvent('run-end', (end) => end.runId === newRun.runId, 30_000);
      await onA.waitForEvent('run-end', (end) => end.runId === newRun.runId, 30_000, 'the new run-end on A');
      await participant.close();
      await waitForQuiescence(chorus, threadId, 20_000);

      // Stopped on a refused write or a refused renewal, whichever came first after the wake-up.
      expect(
        a.server.logs.find(
          (line) => line.runId === staleRun.runId && String(line.msg).startsWith('run stopped: its lease'),
        ),
        'the stale holder logged that it stopped',
      ).toBeDefined();
      expect(
        a.server.logs.some((line) => line.msg === 'run ended' && line.runId === staleRun.runId),
        'the stale holder never ended the run B recovered',
      ).toBe(false);
      const history = await storedHistory(chorus, b, threadId);
      // The message A was streaming is stored once, by B's recovery (`interrupted`), with what was
      // streamed before the stall; nothing of A's run after it.
      expect(history.filter((entry) => entry.id === inFlight.messageId)).toMatchObject([
        { status: 'interrupted' },
      ]);
      const staleMessages = new Set(
        onB
          .events()
          .flatMap((event) =>
            event.type === 'message-start' && event.runId === staleRun.runId ? [event.messageId] : [],
          ),
      );
      const afterInFlight = history.slice(history.findIndex((entry) => entry.id === inFlight.messageId) + 1);
      expect(
        afterInFlight.filter((entry) => staleMessages.has(entry.id)),
        'history written by the stale holder',
      ).toEqual([]);
      expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual([
        first.posted.messageId,
        second.messageId,
      ]);
      const runs = runsSeen([onA, onB]);
      expect(
        auditPosts([first, { text: 'Then the follow-up actions', posted: second }], history, runs),
      ).toEqual({
        lost: [],
        duplicated: [],
        unanswered: [],
        doublyAnswered: [],
      });

      const finalCursor = history.at(-1)!.cursor;
      for (const viewer of [onA, onB]) {
        await viewer.settled();
        await viewer.waitForCursor(finalCursor, 10_000);
        const name = `${viewer.name} over ${viewer.segments.length} connections`;
        expectTranscriptEqualsHistory(name, viewer.transcript(), history);
        const segments = viewer.segmentEvents();
        for (const [index, events] of segments.entries()) {
          expectRunsInSequence(events, name, { ended: index === segments.length - 1 });
          expectDeltasAddUp(streamedMessages(events));
          // Nothing of the stale run after its end (a late message-start, delta or run-end of A's).
          const staleEnd = events.findIndex(
            (event) => event.type === 'run-end' && event.runId === staleRun.runId,
          );
          const late = events
            .slice(staleEnd + 1)
            .filter(
              (event) =>
                staleEnd >= 0 &&
                (('runId' in event && event.runId === staleRun.runId) ||
                  ('messageId' in event && staleMessages.has(String(event.messageId)))),
            );
          expect(late, `${name}: events of the stale run after its end`).toEqual([]);
        }
        // The new run intact: started, its messages streamed whole, ended.
        const events = viewer.events();
        const newMessages = streamedMessages(events).filter((message) =>
          events.some(
            (event) =>
              event.type === 'message-start' &&
              event.runId === newRun.runId &&
              event.messageId === message.messageId,
          ),
        );
        expect(newMessages.length, `${name}: messages of the new run`).toBeGreaterThan(0);
        expect(
          newMessages.every((message) => message.end?.message.status === 'completed'),
          `${name}: the new run's messages completed`,
        ).toBe(true);
      }
    } finally {
      chorus.resume(a);
    }
  });
});
