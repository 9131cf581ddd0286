// The headers an HTTP entry point's answers carry because of their route, whatever the handler
// answers: `Allow` (the methods the path takes) on an answer to a method it does not take. Used for
// the `/v1` API and AG-UI, in front of their handlers, which leave it to this.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from '../http-routes.ts';

type Handle = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * The methods each path of an entry point takes: null for a path that is not the entry point's,
 * [] for one under it that is no endpoint.
 */
export type MethodsOf = (pathname: string) => readonly string[] | null;

/** `handle` with the route's headers set on the response before it answers. */
export function withRouteHeaders(handle: Handle, methodsOf: MethodsOf): Handle {
  return (request, response) => {
    const path = pathOf(request);
    const methods = path === null ? null : methodsOf(path);
    if (methods !== null && methods.length > 0 && !methods.includes(request.method ?? 'GET'))
      response.setHeader('allow', methods.join(', '));
    return handle(request, response);
  };
}

/** The AG-UI route's methods (ag-ui-route.ts): `POST <basePath>/ag-ui` and `POST <basePath>/ag-ui/{team}`. */
export function agUiMethods(basePath: string): MethodsOf {
  const prefix = `${basePath}/ag-ui`;
  return (pathname) => {
    if (pathname !== prefix && !pathname.startsWith(`${prefix}/`)) return null;
    return pathname.slice(prefix.length).replace(/^\//, '').includes('/') ? [] : ['POST'];
  };
}
