// The fan-out path writes each live event's WebSocket frame, built once, through ws's own sender
// (src/gateway/wire.ts). Against a real ws server and client: the fast path is taken (a ws release
// that changes the sender fails here instead of quietly slowing every write), frames of every
// length class arrive intact, and they keep their order with frames sent by `send`.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame } from '../../src/hub/live-frame.ts';
import { writeWireFrame } from '../../src/gateway/wire.ts';

describe('pre-framed writes', () => {
  let server: WebSocketServer | undefined;

  afterEach(async () => {
    for (const client of server?.clients ?? []) client.terminate();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('take the fast path and arrive intact and in order with send()', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const serverSide = once(server, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
    await once(client, 'open');
    const [socket] = await serverSide;

    // Length classes of the header: 7-bit, 16-bit boundaries, 64-bit; and multi-byte UTF-8.
    const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 100_000].map((length, index) =>
      JSON.stringify({ index, text: 'x'.repeat(Math.max(0, length - 24)) }),
    );
    texts.push(JSON.stringify({ text: 'žluťoučký kůň 🐎 úpěl' }));
    const received: string[] = [];
    const all = new Promise<void>((resolve) => {
      client.on('message', (data, isBinary) => {
        expect(isBinary).toBe(false);
        received.push(data.toString('utf8'));
        if (received.length === texts.length * 2) resolve();
      });
    });
    for (const text of texts) {
      expect(writeWireFrame(socket, textFrame(Buffer.from(text)))).toBe(true);
      socket.send(`sent:${text.length}`);
    }
    await all;
    expect(received).toEqual(texts.flatMap((text) => [text, `sent:${text.length}`]));
    client.terminate();
  });

  it('declines a socket that is closing (the caller falls back to send)', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const serverSide = once(server, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    await once(client, 'open');
    const [socket] = await serverSide;
    socket.close(1000, 'bye');
    expect(writeWireFrame(socket, textFrame(Buffer.from('{}')))).toBe(false);
    client.terminate();
  });
});
