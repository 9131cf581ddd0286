// Load generator: a process holding many viewer connections to one system under test (Chorus,
// Socket.IO or the ws relay), each subscribed to a thread / room. It parses every token out of what
// the viewers receive, records token → viewer latency (receive time minus the production time the
// token carries) in a histogram, counts tokens and frames, and reports to the orchestrator over IPC.
// Every connection attempt and every wait is bounded in time.
import WebSocket, { type RawData } from 'ws';
import { io, type Socket } from 'socket.io-client';
import { now, waitUntil } from '../lib/clock.ts';
import { Histogram, type HistogramData } from '../lib/histogram.ts';
import { announceReady, describe, processStats, serveRequests, type ProcessStats } from '../lib/ipc.ts';
import { forEachTokenTime } from '../lib/token-source.ts';

export type SystemName = 'chorus' | 'socketio' | 'ws-relay';

export interface ConnectRequest {
  /** The group of viewers this request tops up (several systems can hold viewers at once). */
  pool: string;
  system: SystemName;
  /** ws://…/ws for Chorus and the relay, http://… for Socket.IO. */
  url: string;
  /** Threads (Chorus) or rooms; each gets an even share of the viewers. */
  targets: string[];
  /** Open viewers wanted in the pool (viewers already open count; extra ones are closed). */
  count: number;
  concurrency: number;
  timeoutMs: number;
}

export interface ConnectResult {
  open: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
}

export interface MeasureResult {
  tokens: number;
  /** Frames that carried tokens (Chorus: message-delta frames). */
  tokenFrames: number;
  frames: number;
  /** Tokens produced before the step began (left over from an earlier step), not counted. */
  stale: number;
  complete: boolean;
  histogram: HistogramData;
  open: number;
  closed: number;
  closeCodes: Record<string, number>;
  stats: ProcessStats;
}

interface Viewer {
  open: boolean;
  close(): void;
  /** The thread / room it watches (set once subscribed). */
  target?: string;
}

const pools = new Map<string, Viewer[]>();
const histogram = new Histogram();
let tokens = 0;
let tokenFrames = 0;
let frames = 0;
let stale = 0;
let notBefore = Number.POSITIVE_INFINITY;
let lastFrameAt = 0;
let closedSinceStart = 0;
let closeCodes: Record<string, number> = {};

function onTokenTime(at: number, receivedAt: number): void {
  if (at < notBefore) {
    stale += 1;
    return;
  }
  tokens += 1;
  histogram.record(receivedAt - at);
}

function onTokenText(text: string, receivedAt: number): void {
  const found = forEachTokenTime(text, (at) => onTokenTime(at, receivedAt));
  if (found > 0) tokenFrames += 1;
}

function noteClose(viewer: Viewer, code: string): void {
  if (!viewer.open) return;
  viewer.open = false;
  closedSinceStart += 1;
  closeCodes[code] = (closeCodes[code] ?? 0) + 1;
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString();
  if (Array.isArray(data)) return Buffer.concat(data).toString();
  return Buffer.from(data).toString();
}

/** Opens a WebSocket viewer and runs `handshake` (bounded); resolves with the live viewer. */
function openWebSocketViewer(
  url: string,
  protocols: string[],
  timeoutMs: number,
  handshake: (socket: WebSocket, done: (error?: Error) => void) => void,
  onLive: (text: string, receivedAt: number) => void,
): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
    const viewer: Viewer = { open: false, close: () => socket.terminate() };
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`no subscription within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        socket.terminate();
        reject(error);
        return;
      }
      viewer.open = true;
      socket.on('message', (data) => {
        const receivedAt = now();
        frames += 1;
        lastFrameAt = receivedAt;
        onLive(rawText(data), receivedAt);
      });
      resolve(viewer);
    };
    socket.on('error', (error) => {
      if (!settled) finish(error);
    });
    socket.on('close', (code) => {
      if (!settled) finish(new Error(`closed with ${code} during the handshake`));
      noteClose(viewer, String(code));
    });
    socket.once('open', () => handshake(socket, finish));
  });
}

function chorusViewer(url: string, threadId: string, timeoutMs: number): Promise<Viewer> {
  return openWebSocketViewer(
    url,
    ['chorus.v1'],
    timeoutMs,
    (socket, done) => {
      // Done once the backlog announced by `subscribed` has arrived too, so that a step never
      // starts while the server still sends backlog to viewers that just joined.
      let backlog = -1;
      const onHandshake = (data: RawData) => {
        const text = rawText(data);
        if (backlog > 0 && text.startsWith('{"type":"message"')) {
          backlog -= 1;
          if (backlog === 0) {
            socket.off('message', onHandshake);
            done();
          }
          return;
        }
        const frame = JSON.parse(text) as {
          type?: string;
          code?: string;
          message?: string;
          backlog?: number;
        };
        if (frame.type === 'welcome') {
          socket.send(JSON.stringify({ type: 'subscribe', requestId: 'subscribe', threadId }));
        } else if (frame.type === 'subscribed') {
          backlog = typeof frame.backlog === 'number' ? frame.backlog : 0;
          if (backlog === 0) {
            socket.off('message', onHandshake);
            done();
          }
        } else if (frame.type === 'error') {
          done(new Error(`chorus error ${frame.code}: ${frame.message}`));
        }
      };
      socket.on('message', onHandshake);
      socket.send(JSON.stringify({ type: 'hello', protocol: 1, user: 'bench-viewer' }));
    },
    (text, receivedAt) => {
      // Only message-delta frames carry live tokens (message-end repeats the whole text). Tokens
      // are read from the raw frame, as for the peers, so that the load generator spends the same
      // per token on every system (a JSON.parse here would make Chorus's viewers slower readers).
      if (text.startsWith('{"type":"message-delta"')) onTokenText(text, receivedAt);
    },
  );
}

function relayViewer(url: string, room: string, timeoutMs: number): Promise<Viewer> {
  return openWebSocketViewer(
    url,
    [],
    timeoutMs,
    (socket, done) => {
      const onHandshake = (data: RawData) => {
        const frame = JSON.parse(rawText(data)) as { type?: string; message?: string };
        if (frame.type === 'subscribed') {
          socket.off('message', onHandshake);
          done();
        } else {
          done(new Error(`relay: ${frame.message ?? 'unexpected frame'}`));
        }
      };
      socket.on('message', onHandshake);
      socket.send(JSON.stringify({ type: 'subscribe', room }));
    },
    (text, receivedAt) => onTokenText(text, receivedAt),
  );
}

function socketIoViewer(url: string, room: string, timeoutMs: number): Promise<Viewer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
    });
    const viewer: Viewer = { open: false, close: () => socket.disconnect() };
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`no join within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.disconnect();
      reject(error);
    };
    socket.on('connect_error', (error) => fail(error));
    socket.on('disconnect', (reason) => {
      if (!settled) fail(new Error(`disconnected during the join: ${reason}`));
      noteClose(viewer, reason);
    });
    socket.on('token', (token: unknown) => {
      const receivedAt = now();
      frames += 1;
      lastFrameAt = receivedAt;
      if (typeof token === 'string') onTokenText(token, receivedAt);
    });
    socket.once('connect', () => {
      socket
        .timeout(timeoutMs)
        .emitWithAck('join', room)
        .then(
          () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            viewer.open = true;
            resolve(viewer);
          },
          (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
        );
    });
  });
}

function openViewers(): number {
  let open = 0;
  for (const viewers of pools.values()) for (const viewer of viewers) if (viewer.open) open += 1;
  return open;
}

async function connect(request: ConnectRequest): Promise<ConnectResult> {
  const started = performance.now();
  const errors: string[] = [];
  let failed = 0;
  const viewers = pools.get(request.pool) ?? [];
  pools.set(request.pool, viewers);
  // Each target gets its share of the viewers (target j: ⌊count / targets⌋, one more for the first
  // count mod targets). Open viewers are kept within their target's share; the others are closed
  // (a target no longer in the step, or one above its share after the step shrank), so that every
  // viewer watches a target that produces and each target has the viewers the step says.
  const { targets, count } = request;
  const share = new Map(
    targets.map((target, index) => [
      target,
      Math.floor(count / targets.length) + (index < count % targets.length ? 1 : 0),
    ]),
  );
  const held = new Map<string, number>();
  const kept: Viewer[] = [];
  for (const viewer of viewers) {
    if (!viewer.open) continue;
    const target = viewer.target ?? '';
    const has = held.get(target) ?? 0;
    if (has < (share.get(target) ?? 0)) {
      held.set(target, has + 1);
      kept.push(viewer);
    } else {
      viewer.open = false;
      viewer.close();
    }
  }
  viewers.splice(0, viewers.length, ...kept);
  const missing: string[] = [];
  for (const [target, wanted] of share)
    for (let has = held.get(target) ?? 0; has < wanted; has += 1) missing.push(target);
  const deadline = performance.now() + request.timeoutMs;
  // Bounded: at most count + 3 × concurrency attempts (failed ones are retried a little).
  let attemptsLeft = count + 3 * request.concurrency;
  while (missing.length > 0 && attemptsLeft > 0 && performance.now() < deadline) {
    const batch = missing.splice(0, Math.min(request.concurrency, attemptsLeft));
    attemptsLeft -= batch.length;
    const attempts = batch.map(async (target) => {
      const perConnection = Math.min(10_000, Math.max(1000, deadline - performance.now()));
      const viewer = await (() => {
        switch (request.system) {
          case 'chorus':
            return chorusViewer(request.url, target, perConnection);
          case 'socketio':
            return socketIoViewer(request.url, target, perConnection);
          case 'ws-relay':
            return relayViewer(request.url, target, perConnection);
          default:
            return request.system satisfies never;
        }
      })();
      viewer.target = target;
      return viewer;
    });
    for (const [index, outcome] of (await Promise.allSettled(attempts)).entries()) {
      if (outcome.status === 'fulfilled') viewers.push(outcome.value);
      else {
        failed += 1;
        missing.push(batch[index]!);
        if (errors.length < 5) errors.push(describe(outcome.reason).split('\n')[0] ?? 'error');
      }
    }
  }
  return {
    open: viewers.filter((viewer) => viewer.open).length,
    failed,
    errors,
    elapsedMs: performance.now() - started,
  };
}

function measureStart(payload: { notBefore: number }): void {
  histogram.reset();
  tokens = 0;
  tokenFrames = 0;
  frames = 0;
  stale = 0;
  closedSinceStart = 0;
  closeCodes = {};
  notBefore = payload.notBefore;
}

async function measureWait(payload: { expectedTokens: number; timeoutMs: number }): Promise<MeasureResult> {
  const complete = await waitUntil(() => tokens >= payload.expectedTokens, payload.timeoutMs, 5);
  return {
    tokens,
    tokenFrames,
    frames,
    stale,
    complete,
    histogram: histogram.toData(),
    open: openViewers(),
    closed: closedSinceStart,
    closeCodes,
    stats: processStats(),
  };
}

async function quiet(payload: { quietMs: number; timeoutMs: number }): Promise<boolean> {
  return waitUntil(() => now() - lastFrameAt >= payload.quietMs, payload.timeoutMs, 20);
}

/** Closes the viewers of one pool, or of every pool. */
function closeAll(pool?: string): number {
  let count = 0;
  for (const [name, viewers] of pools) {
    if (pool !== undefined && name !== pool) continue;
    count += viewers.length;
    for (const viewer of viewers.splice(0)) {
      viewer.open = false;
      viewer.close();
    }
  }
  return count;
}

serveRequests(
  {
    connect: (payload) => connect(payload as ConnectRequest),
    'measure-start': (payload) => measureStart(payload as { notBefore: number }),
    'measure-wait': (payload) => measureWait(payload as { expectedTokens: number; timeoutMs: number }),
    quiet: (payload) => quiet(payload as { quietMs: number; timeoutMs: number }),
    'close-all': (payload) => closeAll((payload as { pool?: string }).pool),
    stats: () => processStats(),
  },
  async () => {
    closeAll();
  },
);
announceReady({ pid: process.pid });
