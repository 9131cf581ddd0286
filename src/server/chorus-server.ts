// Chorus without an HTTP server of its own: the store, hub, runs and gateway, with the request and
// upgrade handlers a host server (node:http, Express, Fastify's raw server …) hands its traffic to.
// `createApp` (src/app.ts) composes the same parts with a server that listens.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { nanoid } from 'nanoid';
import { CircuitBreakerRegistry } from '../agents/circuit-breaker.ts';
import { Semaphore } from '../agents/concurrency.ts';
import { loadConfig, type Config } from '../config.ts';
import { createAuthenticator, type Authenticator } from '../gateway/auth.ts';
import type { Connection } from '../gateway/connection.ts';
import type { GatewayContext, GatewayEvents } from '../gateway/context.ts';
import { Hub } from '../hub/hub.ts';
import { createLogger, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { CloseCode } from '../protocol/codes.ts';
import { RunManager } from '../runs/run-manager.ts';
import { createStoreFromConfig } from '../store/create-store.ts';
import { StoreConversationState } from '../store/store-conversation-state.ts';
import type { Store } from '../store/store.ts';
import { createTeamsFromConfig } from '../teams/create-teams.ts';
import type { TeamRegistry } from '../teams/team.ts';
import { authConfigured, checkAuthMode } from './auth-mode.ts';
import { startFailoverSweep } from './failover-sweep.ts';
import { startHeartbeat } from './heartbeat.ts';
import { createAgUiRoute } from './ag-ui/ag-ui-route.ts';
import { createHttpApi } from './http-api/http-api.ts';
import { withRouteHeaders } from './http-api/route-headers.ts';
import { createHttpRoutes } from './http-routes.ts';
import { createUpgradeHandler } from './upgrade.ts';

export interface ChorusServerOptions {
  /**
   * The settings, as the environment variables of the README's configuration table
   * (`{ REDIS_URL: 'redis://…', CHORUS_AUTH_SECRET: '…' }`); unset ones take their defaults.
   * Ignored when `config` is given. @default process.env
   */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** A configuration made with `loadConfig`; takes precedence over `env`. */
  config?: Config | undefined;
  /**
   * Where Chorus's routes live: `''` gives `/ws`, `/healthz`, `/readyz`, `/metrics` and the viewer
   * page at `/`; `'/chorus'` gives `/chorus/ws`, `/chorus/healthz` … and the page at `/chorus/`.
   * @default ''
   */
  basePath?: string | undefined;
  /** A pino logger. @default JSON lines on stdout at CHORUS_LOG_LEVEL */
  logger?: Logger | undefined;
  /** @default Redis when REDIS_URL is set, else the in-memory store */
  store?: Store | undefined;
  /** @default the teams of CHORUS_TEAM_FILE, else the built-in ones (see docs/teams.md) */
  teams?: TeamRegistry | undefined;
  /** @default from the CHORUS_AUTH_* settings (development mode without them) */
  authenticator?: Authenticator | undefined;
  /** The instance's cap on model streams (exported as metrics). @default CHORUS_MODEL_CONCURRENCY */
  modelConcurrency?: Semaphore | undefined;
}

export interface ChorusServer {
  /** This instance's name (`CHORUS_INSTANCE_ID`, else generated): `welcome.instanceId`, logs, leases. */
  readonly instanceId: string;
  readonly config: Config;
  readonly store: Store;
  readonly runs: RunManager;
  readonly metrics: Metrics;
  readonly teams: TeamRegistry;
  /** Gateway happenings (a connection being closed, with why and its send-buffer peak). */
  readonly gatewayEvents: EventEmitter<GatewayEvents>;
  /**
   * Answers the request when it is one of Chorus's routes and returns true; returns false, without
   * touching the response, otherwise — so `(request, response, next) => chorus.handleRequest(request, response) || next()`.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean;
  /**
   * Takes a WebSocket upgrade for `<basePath>/ws` and returns true; returns false for any other
   * path, leaving the socket to the caller (who should answer or destroy it).
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /**
   * Stops accepting (upgrades get 503, `/readyz` 503, posts `unavailable`), lets running messages
   * finish for up to `drainMs` (default CHORUS_DRAIN_MS), stores the rest `interrupted`, closes every
   * client with 1001 and closes the store. The host's HTTP server is the host's to close.
   */
  close(options?: { drainMs?: number }): Promise<void>;
}

export async function createChorusServer(options: ChorusServerOptions = {}): Promise<ChorusServer> {
  const config = options.config ?? loadConfig({ ...(options.env ?? process.env) });
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const basePath = normalizeBasePath(options.basePath ?? '');
  checkAuthMode(config, logger);
  const instanceId = config.instanceId ?? `chorus-${nanoid(8)}`;
  const metrics = new Metrics({ defaultMetrics: true });
  const modelConcurrency = options.modelConcurrency ?? new Semaphore(config.modelConcurrency);
  metrics.watchModelConcurrency(modelConcurrency);
  const store = options.store ?? (await createStoreFromConfig(config, logger));
  try {
    const teams =
      options.teams ??
      (await createTeamsFromConfig(config, logger, {
        ...(options.env ? { env: options.env } : {}),
        shared: {
          conversationState: new StoreConversationState(store),
          concurrency: modelConcurrency,
          breakers: new CircuitBreakerRegistry(),
        },
      }));
    const auth = options.authenticator ?? (await createAuthenticator(config.auth));
    return assemble({ config, logger, basePath, instanceId, metrics, store, teams, auth });
  } catch (error) {
    if (!options.store) await store.close();
    throw error;
  }
}

function assemble(parts: {
  config: Config;
  logger: Logger;
  basePath: string;
  instanceId: string;
  metrics: Metrics;
  store: Store;
  teams: TeamRegistry;
  auth: Authenticator;
}): ChorusServer {
  const { config, logger, basePath, instanceId, metrics, store, teams, auth } = parts;
  const hub = new Hub({ store, logger });
  const runs = new RunManager({
    store,
    teams,
    instanceId,
    leaseMs: config.leaseMs,
    queueMax: config.queueMax,
    deltaWindowMs: config.deltaWindowMs,
    deltaWindowMaxMs: config.deltaWindowMaxMs,
    speculativeStart: config.speculativeStart,
    liveSeqOf: (threadId) => hub.liveSeqOf(threadId),
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
  const isDraining = () => draining;
  const httpApi = createHttpApi(context, basePath);
  const agUi = createAgUiRoute(context, basePath);
  const handleRequest = createHttpRoutes({
    instanceId,
    store,
    metrics,
    teams,
    isDraining,
    logger,
    basePath,
    authRequired: authConfigured(config),
    extraHandlers: [
      withRouteHeaders(httpApi.handle, httpApi.methods, config.corsOrigins),
      withRouteHeaders(agUi.handle, agUi.methods, config.corsOrigins),
    ],
  });
  const upgrades = createUpgradeHandler({ context, isDraining, path: `${basePath}/ws` });
  const stopHeartbeat = startHeartbeat(connections, config.heartbeatMs);
  const stopFailoverSweep = startFailoverSweep({ runs, hub, leaseMs: config.leaseMs, isDraining, logger });

  let closing: Promise<void> | undefined;
  const close = async (drainMs: number) => {
    draining = true;
    logger.info({ drainMs }, 'draining');
    const ended = await runs.drain(drainMs);
    // The runs' last events travel through the store (Redis pub/sub): let them reach this
    // instance's viewers before their connections close.
    await Promise.all([...ended].map(([threadId, liveSeq]) => hub.reached(threadId, liveSeq, 1000)));
    runs.close();
    await teams.close();
    stopHeartbeat();
    stopFailoverSweep();
    for (const connection of connections) connection.close(CloseCode.goingAway, 'server going away');
    httpApi.close();
    agUi.close();
    upgrades.close();
    await store.close();
    logger.info('stopped');
  };

  return {
    instanceId,
    config,
    store,
    runs,
    metrics,
    teams,
    gatewayEvents,
    handleRequest,
    handleUpgrade: (request, socket, head) => upgrades.handleUpgrade(request, socket, head),
    close(options = {}) {
      closing ??= close(options.drainMs ?? config.drainMs);
      return closing;
    },
  };
}

/** `''`, or `/segment…` without a trailing slash. */
function normalizeBasePath(basePath: string): string {
  const trimmed = basePath.replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (!trimmed.startsWith('/')) throw new Error(`basePath must start with "/": ${JSON.stringify(basePath)}`);
  return trimmed;
}
