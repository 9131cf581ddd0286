// A TCP proxy between test clients and a Chorus instance, to make network faults for real: `cut`
// drops every connection (RST to the client, as a dead link does), `blackhole` keeps connections
// open but forwards nothing more (a silent drop: no FIN, no RST — the peer only notices by a
// timeout), `refuse` turns new connections away, `target` points new connections at another port
// (a load balancer choosing another instance). Chromium's offline emulation cannot do this: it
// does not close WebSockets.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type Direction = 'both' | 'to-server' | 'to-client';

interface Link {
  client: Socket;
  upstream: Socket;
  /** Bytes from the client are dropped. */
  toServerBlocked: boolean;
  /** Bytes from the server are dropped. */
  toClientBlocked: boolean;
}

export class TcpProxy {
  private portValue = 0;
  private readonly server: Server;
  private readonly links = new Set<Link>();
  private targetPort: number;
  private refusing = false;
  /** Connections accepted since the start (refused ones included). */
  accepted = 0;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.server = createServer((client) => this.accept(client));
    this.server.on('error', (error) => console.warn(`tcp proxy: ${error.message}`));
  }

  /** A proxy on a free port of 127.0.0.1 to `targetPort`. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    const { server } = proxy;
    proxy.portValue = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
    return proxy;
  }

  get port(): number {
    return this.portValue;
  }

  /** `ws://127.0.0.1:<proxy port>/ws` */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Open proxied connections. */
  get connections(): number {
    return this.links.size;
  }

  /** New connections go to `port` from now on. */
  target(port: number): void {
    this.targetPort = port;
  }

  /** New connections are closed at once (true) or forwarded again (false). */
  refuse(refusing: boolean): void {
    this.refusing = refusing;
  }

  /** Drops every open connection: RST to the client, the upstream side closed. */
  cut(): void {
    for (const link of this.links) this.drop(link);
  }

  /** Open connections stop forwarding (in `direction`) without closing; new ones are unaffected. */
  blackhole(direction: Direction = 'both'): void {
    for (const link of this.links) {
      if (direction !== 'to-client') link.toServerBlocked = true;
      if (direction !== 'to-server') link.toClientBlocked = true;
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted += 1;
    client.on('error', () => this.dropClient(client));
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(this.targetPort, '127.0.0.1');
    const link: Link = { client, upstream, toServerBlocked: false, toClientBlocked: false };
    this.links.add(link);
    upstream.on('error', () => this.drop(link));
    client.on('data', (chunk) => {
      if (!link.toServerBlocked) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!link.toClientBlocked) client.write(chunk);
    });
    // A blackholed link stays open whatever either side does, as a dead network would.
    client.on('end', () => {
      if (!link.toServerBlocked) upstream.end();
    });
    upstream.on('end', () => {
      if (!link.toClientBlocked) client.end();
    });
    client.on('close', () => {
      if (!link.toServerBlocked) this.drop(link);
    });
    upstream.on('close', () => {
      if (!link.toClientBlocked) this.drop(link);
    });
  }

  private dropClient(client: Socket): void {
    for (const link of this.links) if (link.client === client) this.drop(link);
    if (!client.destroyed) client.destroy();
  }

  private drop(link: Link): void {
    this.links.delete(link);
    if (!link.client.destroyed) link.client.resetAndDestroy();
    if (!link.upstream.destroyed) link.upstream.destroy();
  }
}
