// Crash windows with real processes: for each named point of the run layer (src/runs/crash-points.ts)
// an instance started with CHORUS_TEST_CRASH_AT SIGKILLs itself there. Whatever the point, the
// promise holds: every post answered `posted` (retried with its clientMessageId on the survivor when
// the answer was lost) is stored once and listed by exactly one run's `run-start.posts`, that run
// ends (recovered `interrupted` by the survivor), the thread goes on there, and viewers — from the
// start on the survivor, and moved from the dead instance by cursor — see the history exactly once,
// in order.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createThread, expectDeltasAddUp, streamedMessages } from '../gateway/thread-frames.ts';
import { CrashPoint } from '../../src/runs/crash-points.ts';
import {
  auditPosts,
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  LEASE_MS,
  Poster,
  runsSeen,
  storedHistory,
  Viewer,
  waitForQuiescence,
  type Instance,
} from './support.ts';

const redisUrl = inject('redisUrl');
/** From the crash to the orphaned run's end: the lease expires, then a sweep round (generous: a loaded machine). */
const RECOVERY_BOUND_MS = LEASE_MS + 15_000;
const TIMEOUT_MS = 90_000;

/** The points reached by the instance running the first post (it is the one that takes it). */
const RUNNER_POINTS = [
  CrashPoint.postStored,
  CrashPoint.runStarted,
  CrashPoint.messageStarted,
  CrashPoint.messageEnded,
] as const;

describe('crash windows (SIGKILL at each named point)', { timeout: TIMEOUT_MS }, () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it('covers every crash point', () => {
    expect([...RUNNER_POINTS, CrashPoint.beforeRecover].sort()).toEqual(Object.values(CrashPoint).sort());
  });

  for (const point of RUNNER_POINTS) {
    it(`${point}: the post is stored once and answered by one run, which the survivor recovers; viewers see the history once`, async () => {
      const chorus = await ChorusCluster.start({
        redisUrl,
        names: ['A', 'B'],
        env: { CHORUS_MAX_ITERATIONS: '1' },
        envOf: { A: { NODE_ENV: 'test', CHORUS_TEST_CRASH_AT: point } },
      });
      cluster = chorus;
      const [a, b] = chorus.instances as [Instance, Instance];
      const setup = await chorus.connect(a, 'setup');
      const threadId = await createThread(setup);
      await setup.close();
      const onSurvivor = new Viewer(chorus, 'viewer-on-B', threadId);
      await onSurvivor.open(b);
      const moved = new Viewer(chorus, 'viewer-from-A', threadId);
      await moved.open(a);
      moved.resumeAutomatically(() => b);

      // The post goes to A, which takes it and starts its run; A dies at the point (for the first
      // two, before it answers: the participant retries on B with the same clientMessageId).
      const participant = new Poster(chorus, 'participant', threadId, () =>
        chorus.alive().includes(a) ? a : b,
      );
      const first = {
        text: `Question 1 (${point})`,
        posted: await participant.post(`Question 1 (${point})`, `crash-${point}-1`),
      };
      const exit = await chorus.exited(a, RECOVERY_BOUND_MS);
      expect(exit.signal, `A ended at ${point}; ${a.server.output.join('').slice(-500)}`).toBe('SIGKILL');
      // Both points come before the answer: only the retry on B was answered (the post was stored).
      const answerLost = point === CrashPoint.postStored || point === CrashPoint.runStarted;
      expect(participant.retries > 0, 'the first answer was lost').toBe(answerLost);
      expect(first.posted.duplicate).toBe(answerLost);

      // The survivor recovers the run A started: it ends interrupted, and it is the one that answers the post.
      const firstRun = await onSurvivor.waitForEvent(
        'run-start',
        (start) => (start.posts ?? []).includes(first.posted.messageId),
        RECOVERY_BOUND_MS,
        'the run-start listing the first post',
      );
      const firstEnd = await onSurvivor.waitForEvent(
        'run-end',
        (end) => end.runId === firstRun.runId,
        RECOVERY_BOUND_MS,
        'the end of the first run',
      );
      expect(firstEnd.reason, chorus.problems()).toBe('interrupted');
      expect(
        b.server.logs.some(
          (line) => line.msg === 'recovering a run whose instance stopped' && line.runId === firstRun.runId,
        ),
        'B recovered the run A started',
      ).toBe(true);

      // The thread goes on, on B.
      const second = {
        text: `Question 2 (${point})`,
        posted: await participant.post(`Question 2 (${point})`, `crash-${point}-2`),
      };
      const secondRun = await onSurvivor.waitForEvent(
        'run-start',
        (start) => (start.posts ?? []).includes(second.posted.messageId),
        RECOVERY_BOUND_MS,
        'the run-start listing the second post',
      );
      expect(await chorus.runner(threadId, secondRun.runId)).toBe(b);
      await onSurvivor.waitForEvent('run-end', (end) => end.runId === secondRun.runId, 20_000);
      await participant.close();
      await waitForQuiescence(chorus, threadId, 20_000);

      const history = await storedHistory(chorus, b, threadId);
      expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual([
        first.posted.messageId,
        second.posted.messageId,
      ]);
      const runs = runsSeen([onSurvivor, moved]);
      expect(
        [...runs.values()].every((run) => run.endReason !== undefined),
        'every run ended',
      ).toBe(true);
      expect(auditPosts([first, second], history, runs)).toEqual({
        lost: [],
        duplicated: [],
        unanswered: [],
        doublyAnswered: [],
      });
      const finalCursor = history.at(-1)!.cursor;
      for (const viewer of [onSurvivor, moved]) {
        await viewer.settled();
        await viewer.waitForCursor(finalCursor, 10_000);
        await viewer.waitForRunsEnded(10_000);
        const name = `${viewer.name} over ${viewer.segments.length} connections`;
        expect(viewer.segments.at(-1)!.instance, `${name} ends on the survivor`).toBe(b);
        expect(
          viewer.segments.every((segment) => segment.cursor === undefined || segment.subscribed.recovered),
          `${name}: every resume by cursor recovered`,
        ).toBe(true);
        expectTranscriptEqualsHistory(name, viewer.transcript(), history);
        const segments = viewer.segmentEvents();
        for (const [index, events] of segments.entries()) {
          expectRunsInSequence(events, name, { ended: index === segments.length - 1 });
          expectDeltasAddUp(streamedMessages(events));
        }
      }
      expect(onSurvivor.segments).toHaveLength(1);
    });
  }

  it(`${CrashPoint.beforeRecover}: the instance that took the orphan dies before recovering it; the next one recovers it, once`, async () => {
    const chorus = await ChorusCluster.start({
      redisUrl,
      names: ['A', 'B', 'C'],
      env: { CHORUS_MAX_ITERATIONS: '1', CHORUS_DEMO_TOKENS_PER_SECOND: '50' },
      envOf: { A: { NODE_ENV: 'test', CHORUS_TEST_CRASH_AT: CrashPoint.beforeRecover } },
    });
    cluster = chorus;
    const [a, b, c] = chorus.instances as [Instance, Instance, Instance];
    const setup = await chorus.connect(c, 'setup');
    const threadId = await createThread(setup);
    await setup.close();
    // A watches the thread and B is paused while the orphan waits, so A's sweep takes it (B's
    // would find it through the lease index as soon). Its viewer moves to B when A dies.
    const viewer = new Viewer(chorus, 'viewer', threadId);
    await viewer.open(a);
    viewer.resumeAutomatically(() => b);

    let target = c;
    const participant = new Poster(chorus, 'participant', threadId, () => target);
    const first = {
      text: 'Question 1 (orphan)',
      posted: await participant.post('Question 1 (orphan)', 'orphan-1'),
    };
    const run = await viewer.waitForEvent(
      'run-start',
      (start) => (start.posts ?? []).includes(first.posted.messageId),
      10_000,
    );
    const inFlight = await viewer.waitForEvent('message-start', (start) => start.runId === run.runId, 10_000);
    await viewer.waitForEvent(
      'message-delta',
      (delta) => delta.messageId === inFlight.messageId && delta.seq >= 2,
      10_000,
    );
    chorus.pause(b);
    await chorus.kill(c);
    target = b;

    const exit = await chorus.exited(a, RECOVERY_BOUND_MS);
    chorus.resume(b);
    expect(exit.signal, `A ended before recovering; ${a.server.output.join('').slice(-500)}`).toBe('SIGKILL');
    expect(
      a.server.logs.some(
        (line) => line.msg === 'recovering a run whose instance stopped' && line.runId === run.runId,
      ),
      'A died before it began the recovery',
    ).toBe(false);
    const end = await viewer.waitForEvent('run-end', (event) => event.runId === run.runId, RECOVERY_BOUND_MS);
    expect(end.reason).toBe('interrupted');
    expect(
      b.server.logs.some(
        (line) => line.msg === 'recovering a run whose instance stopped' && line.runId === run.runId,
      ),
      'B recovered the orphan',
    ).toBe(true);

    const second = {
      text: 'Question 2 (orphan)',
      posted: await participant.post('Question 2 (orphan)', 'orphan-2'),
    };
    const secondRun = await viewer.waitForEvent(
      'run-start',
      (start) => (start.posts ?? []).includes(second.posted.messageId),
      RECOVERY_BOUND_MS,
    );
    expect(await chorus.runner(threadId, secondRun.runId)).toBe(b);
    await viewer.waitForEvent('run-end', (event) => event.runId === secondRun.runId, 20_000);
    await participant.close();
    await waitForQuiescence(chorus, threadId, 20_000);

    const history = await storedHistory(chorus, b, threadId);
    // The message cut short by C's death is stored once, interrupted, with the text streamed before it.
    expect(history.filter((entry) => entry.id === inFlight.messageId)).toMatchObject([
      { status: 'interrupted' },
    ]);
    const latecomer = new Viewer(chorus, 'latecomer-on-B', threadId);
    await latecomer.open(b);
    const runs = runsSeen([viewer]);
    expect(auditPosts([first, second], history, runs)).toEqual({
      lost: [],
      duplicated: [],
      unanswered: [],
      doublyAnswered: [],
    });
    await viewer.settled();
    await viewer.waitForCursor(history.at(-1)!.cursor, 10_000);
    await latecomer.waitForCursor(history.at(-1)!.cursor, 10_000);
    expect(viewer.segments.at(-1)!.instance).toBe(b);
    expectTranscriptEqualsHistory(
      `viewer over ${viewer.segments.length} connections`,
      viewer.transcript(),
      history,
    );
    expectTranscriptEqualsHistory('latecomer on B', latecomer.transcript(), history);
    const segments = viewer.segmentEvents();
    for (const [index, events] of segments.entries()) {
      expectRunsInSequence(events, 'viewer', { ended: index === segments.length - 1 });
      expectDeltasAddUp(streamedMessages(events));
    }
  });
});
