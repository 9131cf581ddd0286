// Peer: a Socket.IO 4 server with @socket.io/redis-streams-adapter (ioredis client). Viewers send
// `join` (room) and receive `token` events. The producer runs inside this process (as Chorus's
// model runs inside its instance): `produce` emits one `token` event to the room per token with
// io.to(room).emit, which the adapter XADDs to the shared stream; the other server XREADs it and
// delivers it to its local members of the room.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import {
  announceReady,
  collectedMemory,
  memoryFlavor,
  describe,
  processStats,
  serveRequests,
} from '../lib/ipc.ts';
import { runTokenSource } from '../lib/token-source.ts';

async function main(): Promise<void> {
  const redisUrl = process.env.REDIS_URL;
  const prefix = process.env.BENCH_PREFIX ?? 'bench';
  if (!redisUrl) throw new Error('REDIS_URL is required');
  const redis = new Redis(redisUrl, { connectionName: 'bench-socketio' });
  redis.on('error', (error: Error) => console.error(`socket.io server redis: ${error.message}`));
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    adapter: createAdapter(redis, {
      streamName: `${prefix}:sio-stream`,
      channelPrefix: `${prefix}:sio`,
      sessionKeyPrefix: `${prefix}:sio-session:`,
      onlyPlaintext: true,
    }),
  });
  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack: unknown) => {
      if (typeof room !== 'string') return;
      void Promise.resolve(socket.join(room)).then(() => {
        if (typeof ack === 'function') ack('joined');
      });
    });
    socket.on('error', (error: Error) => console.error(`socket error: ${error.message}`));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;

  const close = async () => {
    await new Promise<void>((resolve) => {
      void io.close(() => resolve());
    });
    redis.disconnect();
  };
  process.on('SIGTERM', () => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  serveRequests(
    {
      memory: (payload) => collectedMemory(memoryFlavor(payload)),
      stats: () => processStats(),
      produce: async (payload) => {
        const { room, rate, count } = payload as { room: string; rate: number; count: number };
        return runTokenSource({ rate, count, onToken: (token) => io.to(room).emit('token', token) });
      },
    },
    close,
  );
  announceReady({ port });
}

main().catch((error: unknown) => {
  console.error(describe(error));
  process.exit(1);
});
