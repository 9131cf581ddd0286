// Chorus's HTTP routes: `/healthz`, `/readyz`, `/metrics` and the viewer at `/` (web-assets.ts), all under an
// optional base path. `handle` decides at once whether a request is Chorus's (and then answers it)
// or not (and then leaves the response untouched), so that a host server can fall through to its
// own routes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import type { TeamRegistry } from '../teams/team.ts';
import { createWebAssets } from './web-assets.ts';

export interface HttpRoutesOptions {
  instanceId: string;
  store: Store;
  metrics: Metrics;
  teams: TeamRegistry;
  isDraining: () => boolean;
  logger: Logger;
  /** '' or a path like `/chorus` (no trailing slash) that every route is under. */
  basePath: string;
  /** The server requires a token (the viewer shows a token field). */
  authRequired?: boolean | undefined;
  /** Handlers tried first (the `/v1` API, AG-UI): each answers its own paths and returns true. */
  extraHandlers?: ReadonlyArray<(request: IncomingMessage, response: ServerResponse) => boolean> | undefined;
}

type Route = (request: IncomingMessage, response: ServerResponse) => Promise<void> | void;

/** Returns the request handler: true when the request was Chorus's (it is answered), false otherwise. */
export function createHttpRoutes(
  options: HttpRoutesOptions,
): (request: IncomingMessage, response: ServerResponse) => boolean {
  const { instanceId, store, metrics, teams, isDraining, logger, basePath } = options;

  const json = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const health: Route = (_request, response) => json(response, 200, { status: 'ok', instanceId });

  const readiness: Route = async (_request, response) => {
    let storeOk = true;
    try {
      await store.ping();
    } catch (error) {
      logger.debug({ err: error }, 'readiness: store ping failed');
      storeOk = false;
    }
    const draining = isDraining();
    const ready = storeOk && !draining;
    json(response, ready ? 200 : 503, {
      ready,
      store: storeOk ? 'ok' : 'unavailable',
      draining,
      instanceId,
    });
  };

  const metricsRoute: Route = async (_request, response) => {
    const text = await metrics.registry.metrics();
    response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
  };

  const routes = new Map<string, Route>([
    [`${basePath}/healthz`, health],
    [`${basePath}/readyz`, readiness],
    [`${basePath}/metrics`, metricsRoute],
    ...createWebAssets({
      basePath,
      teams: teams.names(),
      defaultTeam: teams.defaultTeam,
      authRequired: options.authRequired ?? false,
      logger,
    }),
  ]);

  const failed = (request: IncomingMessage, response: ServerResponse, error: unknown) => {
    logger.error({ err: error, url: request.url }, 'http request failed');
    if (!response.headersSent) response.writeHead(500).end('internal error');
  };

  return (request, response) => {
    // A request target that is no URL (`http://[::1`, say) is answered here, once, for every route.
    const path = pathOf(request);
    if (path === null) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end('bad request target');
      return true;
    }
    try {
      if (options.extraHandlers?.some((handle) => handle(request, response))) return true;
    } catch (error) {
      failed(request, response, error);
      return true;
    }
    const route = routes.get(path);
    if (!route) return false;
    Promise.resolve()
      .then(() => route(request, response))
      .catch((error: unknown) => failed(request, response, error));
    return true;
  };
}

/** A request's URL (on a placeholder origin), or null when its target does not parse as one. */
export function requestUrl(request: IncomingMessage): URL | null {
  try {
    return new URL(request.url ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

/** The path of a request's URL, without query or fragment; null for a target that is no URL. */
export function pathOf(request: IncomingMessage): string | null {
  return requestUrl(request)?.pathname ?? null;
}
