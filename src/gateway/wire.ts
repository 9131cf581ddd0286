// Writing a frame that is already WebSocket bytes (live-frame.ts) through `ws`'s own sender, so
// that it takes the place of a `send` in the socket's write order. `ws` has no public call for
// pre-framed data; `Sender#sendFrame` is the step `send` ends in once a frame is built, used
// here only when `send` would take it at once (the sender is idle: nothing queued, no
// compression — Chorus turns permessage-deflate off). test/gateway/wire.test.ts fails if a `ws`
// release changes this, instead of every write silently taking the slower path.
import type { WebSocket } from 'ws';

interface SenderInternals {
  _state?: unknown | undefined;
  sendFrame?: ((list: Buffer[], callback?: (error?: Error) => void) => void) | undefined;
}

/** ws's Sender state when it is not busy (its DEFAULT). */
const SENDER_IDLE = 0;

/** Writes `wire` (a whole frame) and returns true, or returns false when the caller must `send`. */
export function writeWireFrame(socket: WebSocket, wire: Buffer): boolean {
  if (socket.readyState !== socket.OPEN) return false;
  const sender = (socket as unknown as { _sender?: SenderInternals })._sender;
  if (sender?._state !== SENDER_IDLE || typeof sender.sendFrame !== 'function') return false;
  sender.sendFrame([wire]);
  return true;
}
