// Peer (the floor): a bare `ws` server relaying Redis pub/sub. No history, no resume, no
// ordering or loss guarantees beyond pub/sub's. A viewer sends {"type":"subscribe","room":…} and
// then receives each token as one text frame. One SUBSCRIBE per room per process; every message
// is turned into a Buffer once and sent to each local member. The producer runs inside this
// process: `produce` PUBLISHes one message per token.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
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
  const publisher = new Redis(redisUrl, { connectionName: 'bench-relay-pub' });
  const subscriber = new Redis(redisUrl, { connectionName: 'bench-relay-sub' });
  publisher.on('error', (error: Error) => console.error(`relay publisher: ${error.message}`));
  subscriber.on('error', (error: Error) => console.error(`relay subscriber: ${error.message}`));
  const channelOf = (room: string) => `${prefix}:relay:${room}`;
  const rooms = new Map<string, Set<WebSocket>>();
  subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    const members = rooms.get(channel.toString().slice(prefix.length + 7));
    if (!members) return;
    for (const socket of members) socket.send(message, { binary: false });
  });

  const http = createServer();
  const wss = new WebSocketServer({
    server: http,
    path: '/ws',
    perMessageDeflate: false,
    maxPayload: 65_536,
  });
  wss.on('error', (error) => console.error(`relay server: ${error.message}`));
  wss.on('connection', (socket) => {
    const joined = new Set<string>();
    socket.on('error', (error) => console.error(`relay socket: ${error.message}`));
    socket.on('message', (data) => {
      let room: unknown;
      try {
        room = (JSON.parse(data.toString()) as { room?: unknown }).room;
      } catch (error) {
        socket.send(JSON.stringify({ type: 'error', message: describe(error).split('\n')[0] }));
        return;
      }
      if (typeof room !== 'string' || joined.has(room)) return;
      joined.add(room);
      let members = rooms.get(room);
      const subscribed = members
        ? Promise.resolve()
        : subscriber.subscribe(channelOf(room)).then(() => undefined);
      if (!members) {
        members = new Set();
        rooms.set(room, members);
      }
      members.add(socket);
      subscribed.then(
        () => socket.send(JSON.stringify({ type: 'subscribed', room })),
        (error: unknown) =>
          socket.send(JSON.stringify({ type: 'error', message: describe(error).split('\n')[0] })),
      );
    });
    socket.on('close', () => {
      for (const room of joined) rooms.get(room)?.delete(socket);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;

  const close = async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => http.close(() => resolve()));
    publisher.disconnect();
    subscriber.disconnect();
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
        const channel = channelOf(room);
        return runTokenSource({
          rate,
          count,
          onToken: (token) => {
            publisher
              .publish(channel, token)
              .catch((error: unknown) => console.error(`publish: ${describe(error)}`));
          },
        });
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
