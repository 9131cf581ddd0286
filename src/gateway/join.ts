// Joining a thread, race-free: the caller subscribes to live events first (buffering them), then
// reads the backlog, then the current run. `planJoin` turns what was read into the frames to send
// and a filter for the buffered live events:
// - `message` / `message-end` events are judged by the backlog: sent unless the backlog has them
//   (history and live order of messages are the same, the store appends and publishes atomically);
// - every other event is judged by liveId: sent only when newer than what the snapshot covered.
import type { ThreadEvent } from '../protocol/frames.ts';
import { foldCurrentRun } from '../runs/current-run.ts';
import { compareLiveIds, type LiveEnvelope, type StoredItem } from '../store/store.ts';

export interface JoinPlan {
  /** Frames after the backlog: run-start, message-start and the snapshot delta, when a run is active. */
  runFrames: ThreadEvent[];
  /**
   * What to do with a buffered (or later) live envelope: drop it (the backlog or snapshot has it),
   * send it, or send it and stop filtering — an event newer than the watermark proves that every
   * later one is new too (live delivery is ordered per thread).
   */
  accept(envelope: LiveEnvelope): 'drop' | 'send' | 'settled';
}

export function planJoin(
  threadId: string,
  backlog: readonly StoredItem[],
  run: { events: readonly LiveEnvelope[]; lastLiveId: string | null },
): JoinPlan {
  const backlogIds = new Set(backlog.map((item) => item.message.id));
  const runFrames: ThreadEvent[] = [];
  const { runStart, inFlight } = foldCurrentRun(run.events);
  if (runStart) {
    runFrames.push(runStart);
    if (inFlight && !backlogIds.has(inFlight.start.messageId)) {
      runFrames.push(inFlight.start, {
        type: 'message-delta',
        threadId,
        messageId: inFlight.start.messageId,
        seq: inFlight.seq,
        snapshot: true,
        text: inFlight.content.text,
        parts: inFlight.content.snapshotParts(),
      });
    }
  }
  const watermark = run.lastLiveId;
  return {
    runFrames,
    accept(envelope) {
      const { event } = envelope;
      if (newer(envelope, watermark)) return backlogIds.has(messageIdOf(event)) ? 'drop' : 'settled';
      // A message-end older than the watermark whose message is not in the backlog ended between the
      // backlog read and the run read: the joiner gets it whole (without its start and deltas).
      if (event.type === 'message' || event.type === 'message-end') {
        return backlogIds.has(event.message.id) ? 'drop' : 'send';
      }
      return 'drop';
    },
  };
}

function messageIdOf(event: ThreadEvent): string {
  return event.type === 'message' || event.type === 'message-end' ? event.message.id : '';
}

function newer(envelope: LiveEnvelope, watermark: string | null): boolean {
  return watermark === null || compareLiveIds(envelope.liveId, watermark) > 0;
}
