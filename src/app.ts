// Composition root of a standalone instance: Chorus (src/server/chorus-server.ts: store, hub, runs,
// gateway, HTTP routes, heartbeat, failover sweep) behind an HTTP server of its own that listens on
// config.host:config.port → { start, shutdown }.
import type { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Semaphore } from './agents/concurrency.ts';
import type { Config } from './config.ts';
import type { Authenticator } from './gateway/auth.ts';
import type { GatewayEvents } from './gateway/context.ts';
import { silentLogger, type Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { RunManager } from './runs/run-manager.ts';
import { createChorusServer } from './server/chorus-server.ts';
import type { Store } from './store/store.ts';
import type { TeamRegistry } from './teams/team.ts';

export interface AppOptions {
  config: Config;
  /** @default silent */
  logger?: Logger | undefined;
  /** @default RedisStore when config.redisUrl is set, else a MemoryStore */
  store?: Store | undefined;
  /** @default the teams of the configuration (team file, OpenAI, else the demo team) */
  teams?: TeamRegistry | undefined;
  authenticator?: Authenticator | undefined;
  /** The instance's cap on model streams, exported as metrics. */
  modelConcurrency?: Semaphore | undefined;
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
  const chorus = await createChorusServer({
    config,
    logger,
    ...(options.store ? { store: options.store } : {}),
    ...(options.teams ? { teams: options.teams } : {}),
    ...(options.authenticator ? { authenticator: options.authenticator } : {}),
    ...(options.modelConcurrency ? { modelConcurrency: options.modelConcurrency } : {}),
  });
  let boundPort = 0;

  const server: Server = createServer((request, response) => {
    if (!chorus.handleRequest(request, response))
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  server.on('error', (error) => logger.error({ err: error }, 'http server error'));
  server.on('upgrade', (request, socket, head) => {
    if (chorus.handleUpgrade(request, socket, head)) return;
    socket.on('error', (error) => logger.debug({ err: error }, 'upgrade socket error'));
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  let stopping: Promise<void> | undefined;
  const stop = async (drainMs: number) => {
    await chorus.close({ drainMs });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };

  return {
    instanceId: chorus.instanceId,
    store: chorus.store,
    runs: chorus.runs,
    metrics: chorus.metrics,
    gatewayEvents: chorus.gatewayEvents,
    get url() {
      return `http://127.0.0.1:${boundPort}`;
    },
    async start() {
      await new Promise<void>((resolve, reject) => {
        const failed = (error: Error) =>
          reject(
            new Error(`cannot listen on HOST ${config.host} PORT ${config.port}: ${error.message}`, {
              cause: error,
            }),
          );
        server.once('error', failed);
        server.listen(config.port, config.host, () => {
          server.off('error', failed);
          resolve();
        });
      });
      boundPort = (server.address() as AddressInfo).port;
      logger.info(
        {
          port: boundPort,
          url: `http://${displayHost(config.host)}:${boundPort}/`,
          instanceId: chorus.instanceId,
          store: chorus.store.kind,
          teams: chorus.teams.names(),
        },
        'chorus listening',
      );
      return boundPort;
    },
    shutdown(drainMs = config.drainMs) {
      stopping ??= stop(drainMs);
      return stopping;
    },
  };
}

/** The host to put in a URL a person opens: a wildcard address means this machine. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
