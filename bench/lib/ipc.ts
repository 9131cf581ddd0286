// Request/response over the Node IPC channel between the orchestrator and the processes it
// starts. A child announces itself with `announceReady(data)` and serves named requests; the
// orchestrator side is ManagedChild (children.ts). Payloads are plain JSON.
import { performance } from 'node:perf_hooks';

export interface IpcRequest {
  kind: 'request';
  id: number;
  type: string;
  payload: unknown;
}

export interface IpcResponse {
  kind: 'response';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface IpcReady {
  kind: 'ready';
  data: unknown;
}

export type IpcMessage = IpcRequest | IpcResponse | IpcReady;

export type RequestHandler = (payload: unknown) => unknown;

export function isIpcMessage(value: unknown): value is IpcMessage {
  return typeof value === 'object' && value !== null && 'kind' in value && typeof value.kind === 'string';
}

/**
 * Serves requests from the parent. A child exits when its parent goes away (the IPC channel
 * closes), so an orchestrator that dies never leaves servers or load generators behind.
 * `shutdown` is always understood: it runs `onShutdown`, answers, then exits.
 */
export function serveRequests(
  handlers: Record<string, RequestHandler>,
  onShutdown?: () => Promise<void>,
): void {
  if (!process.send)
    throw new Error('this bench process must be started by bench/run.ts (it needs an IPC channel)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: unknown) => {
    if (!isIpcMessage(message) || message.kind !== 'request') return;
    const { id, type, payload } = message;
    const reply = (response: Omit<IpcResponse, 'kind' | 'id'>) => {
      if (process.connected) process.send?.({ kind: 'response', id, ...response } satisfies IpcResponse);
    };
    if (type === 'shutdown') {
      (onShutdown ? onShutdown() : Promise.resolve()).then(
        () => {
          reply({ ok: true });
          setTimeout(() => process.exit(0), 20);
        },
        (error: unknown) => {
          reply({ ok: false, error: describe(error) });
          setTimeout(() => process.exit(1), 20);
        },
      );
      return;
    }
    const handler = handlers[type];
    if (!handler) {
      reply({ ok: false, error: `unknown request "${type}"` });
      return;
    }
    Promise.resolve()
      .then(() => handler(payload))
      .then(
        (result) => reply({ ok: true, result }),
        (error: unknown) => reply({ ok: false, error: describe(error) }),
      );
  });
}

export function announceReady(data: unknown): void {
  process.send?.({ kind: 'ready', data } satisfies IpcReady);
}

export function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** Resource figures every server reports, so the orchestrator can say where CPU went. */
export interface ProcessStats {
  /** Cumulative CPU time (µs). */
  cpuUser: number;
  cpuSystem: number;
  /** Cumulative event-loop idle and active time (ms). */
  loopIdle: number;
  loopActive: number;
  memory: NodeJS.MemoryUsage;
}

export function processStats(): ProcessStats {
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return {
    cpuUser: cpu.user,
    cpuSystem: cpu.system,
    loopIdle: loop.idle,
    loopActive: loop.active,
    memory: process.memoryUsage(),
  };
}

/**
 * Memory after a full collection (the process must run with --expose-gc). `last-resort` is V8's
 * memory-reducing collection: it also gives back heap pages the process grew into during a burst
 * of work (as V8's memory reducer does by itself once a process goes idle), so that RSS reflects
 * what is live rather than how much garbage the burst made.
 */
export function collectedMemory(
  flavor: 'regular' | 'last-resort' = 'regular',
): NodeJS.MemoryUsage & { collected: boolean } {
  const collect = globalThis.gc;
  if (collect) {
    collect({ type: 'major', execution: 'sync', flavor });
    collect({ type: 'major', execution: 'sync', flavor });
  }
  return { ...process.memoryUsage(), collected: collect !== undefined };
}

/** The `memory` request's payload. */
export function memoryFlavor(payload: unknown): 'regular' | 'last-resort' {
  return typeof payload === 'object' &&
    payload !== null &&
    'flavor' in payload &&
    payload.flavor === 'last-resort'
    ? 'last-resort'
    : 'regular';
}
