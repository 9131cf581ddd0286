// What every connection needs from the app, in one object.
import type { EventEmitter } from 'node:events';
import type { Config } from '../config.ts';
import type { Hub } from '../hub/hub.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { RunManager } from '../runs/run-manager.ts';
import type { Store } from '../store/store.ts';
import type { TeamRegistry } from '../teams/team.ts';
import type { Authenticator } from './auth.ts';
import type { Connection } from './connection.ts';

/**
 * The server decided to close a connection (any code). `sendBufferPeak` is the most bytes its
 * socket ever held unsent, measured after every write.
 */
export interface ConnectionClosing {
  sessionId: string;
  code: number;
  reason: string;
  sendBufferPeak: number;
}

/** What the gateway reports as it happens, for diagnostics and tests (`App.gatewayEvents`). */
export type GatewayEvents = { 'connection-closing': [ConnectionClosing] };

export interface GatewayContext {
  config: Config;
  instanceId: string;
  store: Store;
  hub: Hub;
  runs: RunManager;
  teams: TeamRegistry;
  auth: Authenticator;
  logger: Logger;
  metrics: Metrics;
  connections: Set<Connection>;
  events: EventEmitter<GatewayEvents>;
}
