// WebSocket upgrades at `<basePath>/ws`: the `ws` server (no compression, frame limit, the
// `chorus.v1` subprotocol), one Connection per socket. A draining instance answers 503.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { Connection } from '../gateway/connection.ts';
import type { GatewayContext } from '../gateway/context.ts';
import { SUBPROTOCOL } from '../protocol/codes.ts';
import { pathOf } from './http-routes.ts';

export interface UpgradeHandler {
  /** Takes the socket when the request is for Chorus's WebSocket path (true), else leaves it (false). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Stops the WebSocket server (connections are closed by the caller first). */
  close(): void;
}

export function createUpgradeHandler(options: {
  context: GatewayContext;
  isDraining: () => boolean;
  /** The WebSocket path, `<basePath>/ws`. */
  path: string;
}): UpgradeHandler {
  const { context, isDraining, path } = options;
  const { logger, metrics, connections } = context;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: context.config.maxFrameBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  wss.on('error', (error) => logger.error({ err: error }, 'websocket server error'));
  wss.on('connection', (socket: WebSocket) => {
    connections.add(new Connection(socket, context));
    metrics.connections.inc();
  });

  return {
    handleUpgrade(request, socket, head) {
      if (pathOf(request) !== path) return false; // a target that is no URL too: the host answers it
      socket.on('error', (error) => logger.debug({ err: error }, 'upgrade socket error'));
      if (isDraining()) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return true;
      }
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
      return true;
    },
    close() {
      wss.close();
    },
  };
}
