// Folds the current run's live events into what a joiner or a failover needs: the run's start
// and the in-flight message (started, not ended) with its content so far and its last seq.
import { ContentAccumulator } from '../protocol/content.ts';
import type { ThreadEvent } from '../protocol/frames.ts';
import type { LiveEnvelope } from '../store/store.ts';

type RunStartEvent = Extract<ThreadEvent, { type: 'run-start' }>;
type MessageStartEvent = Extract<ThreadEvent, { type: 'message-start' }>;

export interface InFlightMessage {
  start: MessageStartEvent;
  content: ContentAccumulator;
  /** The last delta seq folded in (0 before the first). */
  seq: number;
}

export interface CurrentRunState {
  runStart: RunStartEvent | null;
  inFlight: InFlightMessage | null;
}

export function foldCurrentRun(events: readonly LiveEnvelope[]): CurrentRunState {
  const first = events[0]?.event;
  if (first?.type !== 'run-start') return { runStart: null, inFlight: null };
  let inFlight: InFlightMessage | null = null;
  for (const { event } of events) {
    if (event.type === 'message-start') {
      inFlight = { start: event, content: new ContentAccumulator(), seq: 0 };
    } else if (event.type === 'message-delta' && inFlight && event.messageId === inFlight.start.messageId) {
      inFlight.content.apply(event);
      inFlight.seq = event.seq;
    } else if (event.type === 'message-end' && inFlight && event.messageId === inFlight.start.messageId) {
      inFlight = null;
    }
  }
  return { runStart: first, inFlight };
}
