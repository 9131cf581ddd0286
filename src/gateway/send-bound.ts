// The slow-consumer bound (CHORUS_MAX_BUFFERED_BYTES) shared by WebSocket connections and SSE streams.

/**
 * The slow-consumer bound's stretch after a frame of `bytes` is offered with `unsent` bytes
 * waiting (WebSocket and SSE): a frame over `bound` by itself, offered while what is unsent is
 * within the bound, stretches it by its size until the queue has drained; an empty queue ends the
 * stretch. Without one, the frame is refused once unsent + bytes pass bound + the stretch.
 */
export function oversizeAllowanceFor(
  unsent: number,
  bytes: number,
  bound: number,
  allowance: number,
): number {
  const current = unsent === 0 ? 0 : allowance;
  return bytes > bound && unsent <= bound ? Math.max(current, bytes) : current;
}
