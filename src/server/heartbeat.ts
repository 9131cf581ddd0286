// The server's heartbeat: a WebSocket ping to every connection each `intervalMs`; a connection that
// left two pings in a row unanswered is closed with 4009 at the next tick. Only pongs count: a
// client's `ping` frames and other traffic do not (protocol.md, Transport).
import type { Connection } from '../gateway/connection.ts';
import { CloseCode } from '../protocol/codes.ts';

/** Starts the heartbeat over `connections` (read at each tick); returns a function that stops it. */
export function startHeartbeat(connections: ReadonlySet<Connection>, intervalMs: number): () => void {
  const timer = setInterval(() => {
    for (const connection of connections) {
      if (connection.missedPongs >= 2) {
        connection.close(CloseCode.heartbeatTimeout, 'heartbeat timeout');
        continue;
      }
      connection.missedPongs += 1;
      connection.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
