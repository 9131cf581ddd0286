// Chaos story (bounded): three Chorus processes on one Redis; viewers drop at random moments and
// resume on random instances; a participant posts while runs stream (retrying through another
// instance when its own is gone); the instance running the thread is SIGKILLed mid-message. At the
// end every viewer's transcript is the stored history: 0 lost, 0 duplicated, 0 reordered.
// The seed is printed in every failure message, so a failing run can be replayed.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createThread, expectDeltasAddUp, streamedMessages } from '../gateway/thread-frames.ts';
import type { FrameOf, TestClient } from '../support/ws-client.ts';
import {
  ChorusCluster,
  expectRunsInSequence,
  expectTranscriptEqualsHistory,
  poll,
  seededRandom,
  storedHistory,
  Viewer,
  waitForQuiescence,
  type Instance,
} from './support.ts';

const redisUrl = inject('redisUrl');
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
const POSTS = 4;
const VIEWERS = 6;
/** The run of this post is the one whose instance is killed. */
const KILLED_RUN = 2;

describe('chaos', () => {
  let cluster: ChorusCluster | undefined;

  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  it(
    `viewers dropping and resuming anywhere, one instance killed: every transcript is the history (seed ${SEED})`,
    { timeout: 40_000 },
    async () => {
      const random = seededRandom(SEED);
      const chorus = await ChorusCluster.start({
        redisUrl,
        names: ['A', 'B', 'C'],
        env: { CHORUS_MAX_ITERATIONS: '3' },
      });
      cluster = chorus;
      const anyAlive = () => {
        const alive = chorus.alive();
        return alive[Math.floor(random() * alive.length)] ?? chorus.instances[0]!;
      };
      const where = `(seed ${SEED})`;

      let participant = await chorus.connect(anyAlive(), 'participant');
      const threadId = await createThread(participant);
      const observer = new Viewer(chorus, 'observer', threadId);
      await observer.open(chorus.instances[0]!);
      observer.resumeAutomatically(anyAlive);
      const viewers: Viewer[] = [];
      for (let index = 0; index < VIEWERS; index += 1) {
        const viewer = new Viewer(chorus, `viewer-${index + 1}`, threadId);
        await viewer.open(chorus.instances[index % chorus.instances.length]!);
        viewer.resumeAutomatically(anyAlive);
        viewers.push(viewer);
      }

      // Viewers drop after a random number of events, and resume with their cursor on a random instance.
      let stopped = false;
      let drops = 0;
      const dropper = async (viewer: Viewer) => {
        while (!stopped) {
          const seen = viewer.events().length;
          const wanted = seen + 5 + Math.floor(random() * 40);
          const reached = await poll(`${wanted} events for ${viewer.name}`, 30_000, () =>
            stopped ? false : viewer.events().length >= wanted ? true : undefined,
          );
          if (!reached) return;
          await viewer.dropAndResume(anyAlive);
          drops += 1;
        }
      };
      const droppers = viewers.map((viewer) => dropper(viewer));

      // A participant who retries a post through another instance when its own is gone.
      const postReliably = async (text: string, clientMessageId: string): Promise<FrameOf<'posted'>> => {
        for (let attempt = 0; ; attempt += 1) {
          const answer = participant.isOpen
            ? await participant
                .request({ type: 'post', threadId, clientMessageId, text })
                .catch((error: unknown) => {
                  if (participant.isOpen) throw error;
                  return null;
                })
            : null;
          if (answer?.type === 'posted') return answer;
          if (answer && !(answer.type === 'error' && answer.retryable))
            throw new Error(`post refused ${where}: ${JSON.stringify(answer)}`);
          if (attempt >= 20)
            throw new Error(`post "${text}" not accepted after ${attempt} attempts ${where}`);
          if (!participant.isOpen || answer?.type === 'error') {
            const reconnected: TestClient = await poll(
              `a live instance for the participant ${where}`,
              10_000,
              async () => chorus.connect(anyAlive(), 'participant').catch(() => undefined),
            );
            participant = reconnected;
          }
        }
      };

      const posted: FrameOf<'posted'>[] = [];
      let killed: Instance | undefined;
      for (let index = 1; index <= POSTS; index += 1) {
        const answer = await postReliably(
          `Question ${index}: plan step ${index} of the launch`,
          `chaos-${SEED}-${index}`,
        );
        posted.push(answer);
        // The run that answers it starts (after the previous one ended), and its first message ends.
        const runStart = await runAfter(
          observer,
          answer.messageId,
          `the run answering post ${index} ${where}`,
        );
        const firstStart = await observer.waitForEvent(
          'message-start',
          (start) => start.runId === runStart.runId,
          10_000,
        );
        if (index === KILLED_RUN) {
          await observer.waitForEvent(
            'message-delta',
            (delta) => delta.messageId === firstStart.messageId && delta.seq >= 2,
            10_000,
          );
          killed = await chorus.runner(threadId, runStart.runId);
          await chorus.kill(killed);
        } else {
          await observer.waitForEvent('message-end', (end) => end.messageId === firstStart.messageId, 10_000);
        }
      }
      // The last post's run ends; then nothing runs any more.
      const last = posted.at(-1)!;
      const lastRun = await runAfter(observer, last.messageId, `the run answering the last post ${where}`);
      await observer.waitForEvent(
        'run-end',
        (end) => end.runId === lastRun.runId,
        20_000,
        `the last run's end ${where}`,
      );
      stopped = true;
      await Promise.all(droppers);
      // Whatever ran last (posts answered together, a run recovered late), the thread is quiet now.
      await waitForQuiescence(chorus, threadId, 20_000);

      const history = await storedHistory(chorus, chorus.alive()[0]!, threadId);
      const finalCursor = history.at(-1)!.cursor;
      expect(killed, `an instance was killed ${where}`).toBeDefined();
      // The kill aimed mid-message; on a loaded machine it may land between two messages instead.
      expect(
        history.filter((entry) => entry.status === 'interrupted').length,
        `interrupted messages ${where}`,
      ).toBeLessThanOrEqual(1);
      const sawInterruptedEnd = [observer, ...viewers].some((viewer) =>
        viewer.events().some((event) => event.type === 'run-end' && event.reason === 'interrupted'),
      );
      expect(sawInterruptedEnd, `the killed run ended interrupted ${where}`).toBe(true);
      expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual(
        posted.map((answer) => answer.messageId),
      );
      for (const viewer of [observer, ...viewers]) {
        await viewer.settled();
        await viewer.waitForCursor(finalCursor, 10_000);
        await viewer.waitForRunsEnded(10_000);
        const name = `${viewer.name} over ${viewer.segments.length} connections ${where}`;
        expect(
          viewer.segments.slice(1).every((segment) => segment.subscribed.recovered),
          `${name}: every resume recovered`,
        ).toBe(true);
        expectTranscriptEqualsHistory(name, viewer.transcript(), history);
        const segments = viewer.segmentEvents();
        for (const [index, segment] of segments.entries()) {
          expectRunsInSequence(segment, name, { ended: index === segments.length - 1 });
          expectDeltasAddUp(streamedMessages(segment));
        }
      }
      expect(drops, `viewers dropped ${where}`).toBeGreaterThanOrEqual(VIEWERS);
    },
  );
});

/** The first run-start the viewer received after the user message `messageId` (bounded). */
function runAfter(viewer: Viewer, messageId: string, description: string): Promise<FrameOf<'run-start'>> {
  return poll(description, 20_000, () => {
    const events = viewer.events();
    const posted = events.findIndex((event) => event.type === 'message' && event.message.id === messageId);
    if (posted < 0) return undefined;
    return events
      .slice(posted + 1)
      .find((event): event is FrameOf<'run-start'> => event.type === 'run-start');
  });
}
