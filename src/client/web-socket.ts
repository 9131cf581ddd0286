// The WebSocket the client runs on: the global one (browsers, Node 22+) or one given in the
// options (for example the `ws` package's on older Node). Only the standard surface is used.
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Any WebSocket class with the standard constructor: the global one, `ws`, undici's. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => object;

export function resolveWebSocket(
  given: WebSocketClass | undefined,
): new (url: string, protocols?: string | string[]) => WebSocketLike {
  const found = given ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
  if (!found) {
    throw new Error(
      'no WebSocket available: run on Node.js 22 or newer (or a browser), or pass options.WebSocket (e.g. the ws package)',
    );
  }
  return found as new (url: string, protocols?: string | string[]) => WebSocketLike;
}
