// The headers an HTTP entry point's answers carry because of their route, whatever the handler
// answers: `Allow` (the methods the path takes) on an answer to a method it does not take, and,
// with CHORUS_CORS_ORIGINS, CORS — `Access-Control-Allow-Origin` for an allowed `Origin` on every
// answer (errors and SSE streams too), and preflights (`OPTIONS`) answered here, before the handler:
// no token is verified, no body read and no rate-limit token taken. Used for the `/v1` API and
// AG-UI, in front of their handlers, which leave these headers to this.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../config.ts';
import { pathOf } from '../http-routes.ts';

type Handle = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * The methods each path of an entry point takes: null for a path that is not the entry point's,
 * [] for one under it that is no endpoint.
 */
export type MethodsOf = (pathname: string) => readonly string[] | null;

/** The request headers the API reads (beyond the CORS-safelisted ones), allowed on a preflight. */
export const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID';
/** The response headers a client reads, beyond the safelisted (Content-Type, Content-Length). */
export const CORS_EXPOSED_HEADERS = 'Retry-After, Allow';
/** How long (s) a browser may keep a preflight's answer. */
export const CORS_MAX_AGE = '600';

/** `handle` with the route's headers set on the response before it answers. */
export function withRouteHeaders(
  handle: Handle,
  methodsOf: MethodsOf,
  origins: Config['corsOrigins'],
): Handle {
  const cors = origins === '*' || origins.length > 0;
  const allowed = (origin: string | undefined): origin is string =>
    origin !== undefined && (origins === '*' || origins.includes(origin));
  return (request, response) => {
    const path = pathOf(request);
    const methods = path === null ? null : methodsOf(path);
    if (methods === null) return handle(request, response);
    const method = request.method ?? 'GET';
    const { origin } = request.headers;
    if (cors) {
      // The answer depends on Origin (caches must not give one origin's to another).
      response.setHeader('vary', 'Origin');
      if (allowed(origin)) {
        response.setHeader('access-control-allow-origin', origins === '*' ? '*' : origin);
        response.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS);
      }
      if (method === 'OPTIONS' && methods.length > 0) {
        // A preflight from an origin not allowed gets the same 204 without Access-Control-Allow-*:
        // the browser then refuses the request.
        response.setHeader('allow', [...methods, 'OPTIONS'].join(', '));
        if (allowed(origin) && request.headers['access-control-request-method'] !== undefined) {
          response.setHeader('access-control-allow-methods', methods.join(', '));
          response.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS);
          response.setHeader('access-control-max-age', CORS_MAX_AGE);
        }
        request.resume();
        response.writeHead(204).end();
        return true;
      }
    }
    if (methods.length > 0 && !methods.includes(method))
      response.setHeader('allow', [...methods, ...(cors ? ['OPTIONS'] : [])].join(', '));
    return handle(request, response);
  };
}
