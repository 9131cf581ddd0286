// Joining a thread, race-free: the caller subscribes to live events first (buffering them), then
// reads the backlog, then the current run. `planJoin` turns what was read into the frames to send
// and the order to send them in. `lastSeq` (the thread's live sequence number when the current
// run was read) splits the buffered events:
// - at or below it, the snapshot covers the current run, so only what it cannot show is sent: a
//   stored message missing from the backlog (it ended between the two reads), `run-end` (a resuming
//   client must learn that the run it watched is over) and `thread-deleted`. Those of an earlier
//   run go out before the snapshot's `run-start`, those of its own run after it and before the
//   in-flight message, exactly where live delivery would have put them;
// - above it, everything is new and is sent (live delivery is ordered per thread).
import type { ThreadEvent } from '../protocol/frames.ts';
import { foldCurrentRun } from '../runs/current-run.ts';
import type { LiveEnvelope } from '../store/store.ts';
import type { GatewayContext } from './context.ts';

/**
 * How long a joiner waits for live delivery to catch up with what it read from the store (the
 * events go through pub/sub, the reads through commands); beyond it the join is treated as a gap.
 */
const JOIN_CATCH_UP_MS = 5000;

/** What a joiner sends after its backlog, in order: a snapshot frame, or a buffered event. */
export type JoinStep = { event: ThreadEvent } | { envelope: LiveEnvelope };

export interface JoinPlan {
  /** The snapshot of the current run, in three parts (each may be empty). */
  runStart: ThreadEvent | null;
  /** message-start and the snapshot delta of the in-flight message. */
  inFlight: ThreadEvent[];
  /** The live seq of the snapshot's run-start (0 without a run). */
  runStartSeq: number;
  /** The thread's live seq when the run was read: events up to it are judged by the snapshot. */
  lastSeq: number;
  /** Whether a buffered or later live event is to be sent. */
  accept(envelope: LiveEnvelope): boolean;
}

export function planJoin(
  threadId: string,
  backlogIds: ReadonlySet<string>,
  run: { events: readonly LiveEnvelope[]; lastSeq: number },
): JoinPlan {
  const { runStart, inFlight } = foldCurrentRun(run.events);
  const frames: ThreadEvent[] = [];
  if (runStart && inFlight && !backlogIds.has(inFlight.start.messageId)) {
    frames.push(inFlight.start, {
      type: 'message-delta',
      threadId,
      messageId: inFlight.start.messageId,
      seq: inFlight.seq,
      snapshot: true,
      text: inFlight.content.text,
      parts: inFlight.content.snapshotParts(),
    });
  }
  const { lastSeq } = run;
  return {
    runStart,
    inFlight: frames,
    runStartSeq: runStart ? (run.events[0]?.liveSeq ?? 0) : 0,
    lastSeq,
    accept({ event, liveSeq }) {
      if (event.type === 'message' || event.type === 'message-end') return !backlogIds.has(event.message.id);
      if (liveSeq > lastSeq) return true;
      return event.type === 'run-end' || event.type === 'thread-deleted';
    },
  };
}

/**
 * The order a joiner gets the buffered events and the snapshot in: accepted events of earlier runs,
 * the snapshot's run-start, accepted events of its run up to `lastSeq`, the in-flight message, then
 * every accepted event after `lastSeq`. Returns what to send (frames of the snapshot as events,
 * buffered envelopes as they are).
 */
export function orderJoin(plan: JoinPlan, buffered: readonly LiveEnvelope[]): JoinStep[] {
  const accepted = buffered.filter((envelope) => plan.accept(envelope));
  const beforeRun = accepted.filter(
    (envelope) => envelope.liveSeq <= plan.lastSeq && envelope.liveSeq < plan.runStartSeq,
  );
  const inRun = accepted.filter(
    (envelope) =>
      envelope.liveSeq <= plan.lastSeq && envelope.liveSeq >= plan.runStartSeq && plan.runStart !== null,
  );
  const covered = new Set([...beforeRun, ...inRun]);
  const after = accepted.filter((envelope) => !covered.has(envelope));
  return [
    ...beforeRun.map((envelope) => ({ envelope })),
    ...(plan.runStart ? [{ event: plan.runStart }] : []),
    ...inRun.map((envelope) => ({ envelope })),
    ...plan.inFlight.map((event) => ({ event })),
    ...after.map((envelope) => ({ envelope })),
  ];
}

/**
 * The end of a join, once the backlog is sent: reads the current run, waits until live delivery has
 * caught up with what was read, then ends the joiner's buffering (`takeBuffered`) and answers what
 * to send, in order. 'gap' when live delivery did not catch up in time; 'left' when the joiner went
 * away (`wanted()` false) meanwhile.
 */
export async function completeJoin(
  context: Pick<GatewayContext, 'store' | 'hub'>,
  threadId: string,
  backlogIds: ReadonlySet<string>,
  joiner: { wanted(): boolean; takeBuffered(): LiveEnvelope[] },
): Promise<JoinStep[] | 'gap' | 'left'> {
  const run = await context.store.currentRun(threadId);
  // Every event up to what was read must be in the buffer before the join is ordered.
  if (!(await context.hub.reached(threadId, run.lastSeq, JOIN_CATCH_UP_MS))) return 'gap';
  if (!joiner.wanted()) return 'left';
  return orderJoin(planJoin(threadId, backlogIds, run), joiner.takeBuffered());
}
