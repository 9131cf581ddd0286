// The run-end event a run's end publishes. A cancel recorded for the run decides its reason, so that
// the `cancelled` answer a client got and the run's `run-end` always agree.
import type { ThreadEvent } from '../protocol/frames.ts';
import type { CancelReason, RunEnd } from './store.ts';

export function runEndEvent(
  threadId: string,
  runId: string,
  end: RunEnd,
  cancel: CancelReason | null,
): Extract<ThreadEvent, { type: 'run-end' }> {
  if (cancel && end.reason !== 'cancelled') {
    return {
      type: 'run-end',
      threadId,
      runId,
      reason: 'cancelled',
      ...(cancel === 'superseded' ? { detail: 'superseded' } : {}),
      explanation: cancel === 'superseded' ? 'a newer message superseded the run' : 'the run was cancelled',
    };
  }
  return {
    type: 'run-end',
    threadId,
    runId,
    reason: end.reason,
    ...(end.detail === undefined ? {} : { detail: end.detail }),
    ...(end.explanation === undefined ? {} : { explanation: end.explanation }),
  };
}
