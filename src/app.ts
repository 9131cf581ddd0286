// Composition root: store, hub, runs, gateway and HTTP routes → { start, shutdown, close }.
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { nanoid } from 'nanoid';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Semaphore } from './agents/concurrency.ts';
import type { Config } from './config.ts';
import { createAuthenticator, type Authenticator } from './gateway/auth.ts';
import { Connection } from './gateway/connection.ts';
import type { GatewayContext, GatewayEvents } from './gateway/context.ts';
import { Hub } from './hub/hub.ts';
import { silentLogger, type Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { CloseCode, SUBPROTOCOL } from './protocol/codes.ts';
import { RunManager } from './runs/run-manager.ts';
import { MemoryStore } from './store/memory-store.ts';
import type { Store } from './store/store.ts';
import { createDemoTeam, TeamRegistry } from './teams/team.ts';
import { renderIndexPage } from './web/index-page.ts';

export interface AppOptions {
  config: Config;
  logger?: Logger;
  /** Defaults to a MemoryStore (or RedisStore when config.redisUrl is set, see main.ts). */
  store?: Store;
  teams?: TeamRegistry;
  authenticator?: Authenticator;
  /** The instance's cap on model streams, exported as metrics. */
  modelConcurrency?: Semaphore;
}

export interface App {
  readonly instanceId: string;
  readonly store: Store;
  readonly runs: RunManager;
  readonly metrics: Metrics;
  /** Gateway happenings (a connection being closed, with why and its send-buffer peak). */
  readonly gatewayEvents: EventEmitter<GatewayEvents>;
  /** Listens on config.host:config.port (0: a free port); resolves with the bound port. */
  start(): Promise<number>;
  /** SIGTERM: stop accepting, drain runs for drainMs, interrupt the rest, close clients with 1001. */
  shutdown(drainMs?: number): Promise<void>;
  readonly url: string;
}

export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  const instanceId = config.instanceId ?? `chorus-${nanoid(8)}`;
  const metrics = new Metrics({ defaultMetrics: true });
  if (options.modelConcurrency) metrics.watchModelConcurrency(options.modelConcurrency);
  const store = options.store ?? new MemoryStore({ historyMaxLength: config.historyMaxLength, logger });
  const teams =
    options.teams ??
    new TeamRegistry([
      createDemoTeam({ tokensPerSecond: config.demoTokensPerSecond, maxIterations: config.maxIterations }),
    ]);
  const auth = options.authenticator ?? (await createAuthenticator(config.auth));
  const hub = new Hub({ store, logger });
  const runs = new RunManager({
    store,
    teams,
    instanceId,
    leaseMs: config.leaseMs,
    queueMax: config.queueMax,
    deltaWindowMs: config.deltaWindowMs,
    logger,
    metrics,
  });
  const connections = new Set<Connection>();
  const gatewayEvents = new EventEmitter<GatewayEvents>();
  const context: GatewayContext = {
    config,
    instanceId,
    store,
    hub,
    runs,
    teams,
    auth,
    logger,
    metrics,
    connections,
    events: gatewayEvents,
  };
  let draining = false;
  let boundPort = 0;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  wss.on('error', (error) => logger.error({ err: error }, 'websocket server error'));
  wss.on('connection', (socket: WebSocket) => {
    const connection = new Connection(socket, context);
    connections.add(connection);
    metrics.connections.inc();
  });

  const server: Server = createServer((request, response) => {
    handleHttp(request, response).catch((error: unknown) => {
      logger.error({ err: error, url: request.url }, 'http request failed');
      if (!response.headersSent) response.writeHead(500).end('internal error');
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'http server error'));
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => logger.debug({ err: error }, 'upgrade socket error'));
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    if (draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  async function handleHttp(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') {
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'ok', instanceId }));
      return;
    }
    if (path === '/readyz') {
      let storeOk = true;
      try {
        await store.ping();
      } catch {
        storeOk = false;
      }
      const ready = storeOk && !draining;
      response
        .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ready, store: storeOk ? 'ok' : 'unavailable', draining, instanceId }));
      return;
    }
    if (path === '/metrics') {
      response
        .writeHead(200, { 'content-type': metrics.registry.contentType })
        .end(await metrics.registry.metrics());
      return;
    }
    if (path === '/' || path === '/index.html') {
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(renderIndexPage({ teams: teams.names(), defaultTeam: teams.defaultTeam }));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }

  // Heartbeat: ping every heartbeatMs; a peer that missed two pongs in a row is closed with 4009.
  const heartbeat = setInterval(() => {
    for (const connection of connections) {
      if (connection.missedPongs >= 2) {
        connection.close(CloseCode.heartbeatTimeout, 'heartbeat timeout');
        continue;
      }
      connection.missedPongs += 1;
      connection.ping();
    }
  }, config.heartbeatMs);
  heartbeat.unref();

  // Failover: runs whose instance died are recovered within about a lease time.
  let sweeping = false;
  const failoverSweep = setInterval(
    () => {
      if (sweeping || draining) return;
      sweeping = true;
      runs
        .sweep([...hub.threadIds()])
        .catch((error: unknown) => logger.warn({ err: error }, 'failover sweep failed'))
        .finally(() => {
          sweeping = false;
        });
    },
    Math.max(250, Math.floor(config.leaseMs / 2)),
  );
  failoverSweep.unref();

  let closed = false;
  return {
    instanceId,
    store,
    runs,
    metrics,
    gatewayEvents,
    get url() {
      return `http://127.0.0.1:${boundPort}`;
    },
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      boundPort = (server.address() as AddressInfo).port;
      logger.info(
        { port: boundPort, instanceId, store: store.kind, teams: teams.names() },
        'chorus listening',
      );
      return boundPort;
    },
    async shutdown(drainMs = config.drainMs) {
      if (closed) return;
      closed = true;
      draining = true;
      logger.info({ drainMs }, 'draining');
      const ended = await runs.drain(drainMs);
      // The runs' last events travel through the store (Redis pub/sub): let them reach this
      // instance's viewers before their connections close.
      await Promise.all([...ended].map(([threadId, liveSeq]) => hub.reached(threadId, liveSeq, 1000)));
      runs.close();
      await teams.close();
      clearInterval(heartbeat);
      clearInterval(failoverSweep);
      for (const connection of connections) connection.close(CloseCode.goingAway, 'server going away');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      wss.close();
      await store.close();
      logger.info('stopped');
    },
  };
}
