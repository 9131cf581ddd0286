// The Chorus client: one WebSocket, many threads. It connects (hello → welcome), reconnects with
// full-jitter backoff as the close codes advise, resumes every thread from its cursor, checks the
// connection's liveness itself (protocol `ping` with a deadline), and matches replies to requests
// with timeouts. Runs on the global WebSocket of browsers and Node 22+.
import { CloseCode, PROTOCOL_VERSION, SUBPROTOCOL } from '../protocol/codes.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { CloseAdvice, closeAdvice } from './close-advice.ts';
import { memoryCursorStore, type CursorStore } from './cursor-store.ts';
import { Emitter } from './emitter.ts';
import { ChorusError, ClientErrorCode } from './errors.ts';
import {
  threadEventTypes,
  type FrameOf,
  type HistoryPage,
  type ServerFrame,
  type ThreadEvent,
  type Welcome,
} from './frames.ts';
import { Liveness } from './liveness.ts';
import { randomId } from './random-id.ts';
import {
  ChorusThread,
  expectReply,
  type RequestFrame,
  type ThreadOptions,
  type ThreadTransport,
} from './thread.ts';
import { resolveWebSocket, type WebSocketClass, type WebSocketLike } from './web-socket.ts';

export const ConnectionState = {
  /** Not connected yet (nothing was asked of the client, or `autoConnect: false`). */
  idle: 'idle',
  /** The first connection is being made. */
  connecting: 'connecting',
  /** Handshake done (`welcome`): requests and subscriptions flow. */
  connected: 'connected',
  /** The connection was lost; waiting for the next attempt or making it. */
  reconnecting: 'reconnecting',
  /** For good: `close()` was called, or the server said not to reconnect (`connection.error`). */
  closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export interface ConnectionInfo {
  readonly state: ConnectionState;
  /** Failed attempts since the last successful handshake. */
  readonly attempt: number;
  /** While reconnecting: when the next attempt starts (ms since the epoch). */
  readonly nextAttemptAt: number | null;
  /** How the last connection ended. */
  readonly lastClose: { code: number; reason: string } | null;
  /** Why the client closed for good (state `closed` not by `close()`). */
  readonly error: ChorusError | null;
  /** The current (or last) session's `welcome`. */
  readonly welcome: Welcome | null;
}

export type TokenProvider = () => string | undefined | Promise<string | undefined>;

export interface ChorusClientOptions {
  /** `ws://host:port/ws` or `wss://…`. */
  url: string;
  /** A JWT, or a function called before every connection (again after close 4001, token expired). */
  token?: string | TokenProvider | undefined;
  /** Display name, used when the token has no `sub`. */
  user?: string | undefined;
  /** Keeps each thread's resume cursor (e.g. `storageCursorStore(localStorage)`). @default in memory */
  cursorStore?: CursorStore | undefined;
  /** The WebSocket class. @default globalThis.WebSocket */
  WebSocket?: WebSocketClass | undefined;
  /** Connect as soon as the client is made (on the next microtask). @default true */
  autoConnect?: boolean | undefined;
  /** Bound for a request's reply (and for a post's each attempt). @default 10000 */
  requestTimeoutMs?: number | undefined;
  /** Bound for opening the socket and getting `welcome`. @default 10000 */
  connectTimeoutMs?: number | undefined;
  /** After this long without any frame, a `ping` is sent. @default 5000 */
  pingIntervalMs?: number | undefined;
  /** When nothing arrives this long after a ping, the connection is taken for dead and replaced. @default 4000 */
  pingTimeoutMs?: number | undefined;
  /** Reconnect delays (full jitter). @default { baseMs: 500, maxMs: 15000 } */
  reconnect?: BackoffOptions | undefined;
  /** A post is given up (state `failed`) after this many answered or timed-out attempts. @default 10 */
  maxPostAttempts?: number | undefined;
}

export interface ClientEvents {
  [event: string]: unknown;
  /** The connection state changed (or the next attempt was scheduled). */
  state: ConnectionInfo;
  welcome: Welcome;
  /** Something went wrong that no request reports: the server closed for good, a frame could not be read … */
  error: ChorusError;
}

interface PendingRequest {
  resolve: (frame: ServerFrame) => void;
  reject: (error: ChorusError) => void;
  timer: ReturnType<typeof setTimeout>;
  onReply: ((frame: ServerFrame) => void) | undefined;
}

interface ConnectionWaiter {
  resolve: () => void;
  reject: (error: ChorusError) => void;
}

export class ChorusClient extends Emitter<ClientEvents> {
  private readonly options: ChorusClientOptions;
  private readonly WebSocketImplementation: new (url: string, protocols?: string | string[]) => WebSocketLike;
  private readonly threads = new Map<string, ChorusThread>();
  private readonly pending = new Map<string, PendingRequest>();
  private readonly waiters = new Set<ConnectionWaiter>();
  private readonly transport: ThreadTransport;
  private readonly liveness: Liveness;
  private readonly requestPrefix = `${randomId(6)}-`;
  private requestCounter = 0;
  private socket: WebSocketLike | null = null;
  private stateValue: ConnectionState = ConnectionState.idle;
  private attempt = 0;
  private nextAttemptAt: number | null = null;
  private lastClose: { code: number; reason: string } | null = null;
  private errorValue: ChorusError | null = null;
  private welcome: Welcome | null = null;
  private helloRequestId = '';
  private refusal: ChorusError | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly removeNetworkListeners: () => void;

  constructor(options: ChorusClientOptions) {
    super();
    this.options = options;
    this.WebSocketImplementation = resolveWebSocket(options.WebSocket);
    const cursorStore = options.cursorStore ?? memoryCursorStore();
    const isConnected = () => this.stateValue === ConnectionState.connected;
    const user = () => this.user;
    this.transport = {
      get connected() {
        return isConnected();
      },
      get user() {
        return user();
      },
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxPostAttempts: options.maxPostAttempts ?? 10,
      backoff: options.reconnect ?? {},
      cursorStore,
      send: (frame, sendOptions) => this.send(frame, sendOptions),
      request: (frame, requestOptions) => this.request(frame, requestOptions),
      reconnect: (reason) => this.dropSocket(reason),
      forget: (thread) => {
        if (this.threads.get(thread.threadId) === thread) this.threads.delete(thread.threadId);
      },
    };
    this.liveness = new Liveness({
      intervalMs: options.pingIntervalMs ?? 5000,
      timeoutMs: options.pingTimeoutMs ?? 4000,
      sendPing: () => this.sendText(JSON.stringify({ type: 'ping' })),
      onDead: (silentForMs) => this.dropSocket(`no frame for ${silentForMs} ms, not even a pong`),
    });
    this.removeNetworkListeners = this.listenToNetwork();
    if (options.autoConnect ?? true) queueMicrotask(() => this.start());
  }

  // --- state -----------------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateValue;
  }

  get connection(): ConnectionInfo {
    return {
      state: this.stateValue,
      attempt: this.attempt,
      nextAttemptAt: this.nextAttemptAt,
      lastClose: this.lastClose,
      error: this.errorValue,
      welcome: this.welcome,
    };
  }

  /** The name the server gives this client's posts: `welcome.user`, before the first welcome `options.user`. */
  get user(): string {
    return this.welcome?.user ?? this.options.user ?? 'anonymous';
  }

  // --- lifecycle -------------------------------------------------------------------------------

  /** Connects (if not yet) and resolves with the next `welcome`; rejects when the client closes. */
  async connect(options: { timeoutMs?: number } = {}): Promise<Welcome> {
    await this.waitForConnection(Date.now() + (options.timeoutMs ?? Number.MAX_SAFE_INTEGER));
    if (!this.welcome) throw new ChorusError(ClientErrorCode.closed, 'the client closed');
    return this.welcome;
  }

  /** Closes the connection for good: pending requests reject, pending posts fail, threads close. */
  close(): void {
    if (this.stateValue === ConnectionState.closed) return;
    this.shutDown(new ChorusError(ClientErrorCode.closed, 'the client was closed'), null);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      socket.close(CloseCode.normal, 'client closed');
    }
  }

  // --- threads and requests --------------------------------------------------------------------

  /** The thread `threadId` (the same object while it is open): subscribed now and after every reconnect. */
  thread(threadId: string, options: ThreadOptions = {}): ChorusThread {
    const existing = this.threads.get(threadId);
    if (existing) return existing;
    const thread = new ChorusThread(threadId, this.transport, options);
    this.threads.set(threadId, thread);
    if (this.stateValue === ConnectionState.closed) {
      thread.clientClosed(
        this.errorValue ?? new ChorusError(ClientErrorCode.closed, 'the client was closed'),
      );
    } else if (this.stateValue === ConnectionState.connected) thread.connected();
    else this.start();
    return thread;
  }

  /**
   * Creates a thread (idempotent: without `threadId` the client picks one, so a retry after a lost
   * connection cannot create two). `existing: true` when the id was taken: nothing changed.
   */
  async createThread(
    options: { threadId?: string; team?: string; metadata?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<{ threadId: string; existing: boolean; team: string | null }> {
    const { timeoutMs, ...fields } = options;
    const reply = await this.request(
      { type: 'create-thread', ...fields, threadId: fields.threadId ?? randomId(16) },
      { repeatable: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
    const created = expectReply(reply, 'thread-created');
    return { threadId: created.threadId, existing: created.existing, team: created.team ?? null };
  }

  /** Deletes a thread (its subscribers get `deleted`). Not retried across a reconnect. */
  async deleteThread(threadId: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const reply = await this.request({ type: 'delete-thread', threadId }, { ...options, repeatable: false });
    expectReply(reply, 'thread-deleted');
  }

  /** One page of a thread's stored messages, oldest first: the newest ones before `before` (a history cursor). */
  async history(
    threadId: string,
    options: { before?: string; limit?: number; timeoutMs?: number } = {},
  ): Promise<Pick<HistoryPage, 'items' | 'hasMore'>> {
    const { timeoutMs, ...fields } = options;
    const reply = await this.request(
      { type: 'history', threadId, ...fields },
      { repeatable: true, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
    );
    const page = expectReply(reply, 'history-page');
    return { items: page.items, hasMore: page.hasMore };
  }

  /** A round trip to the server; resolves with its duration in ms. */
  async ping(options: { timeoutMs?: number } = {}): Promise<number> {
    const started = Date.now();
    expectReply(await this.request({ type: 'ping' }, { ...options, repeatable: true }), 'pong');
    return Date.now() - started;
  }

  // --- requests --------------------------------------------------------------------------------

  private async request(
    frame: RequestFrame,
    options: { timeoutMs?: number; repeatable: boolean },
  ): Promise<ServerFrame> {
    const deadline = Date.now() + (options.timeoutMs ?? this.transport.requestTimeoutMs);
    for (;;) {
      await this.waitForConnection(deadline);
      try {
        return await this.send(frame, { timeoutMs: Math.max(1, deadline - Date.now()) });
      } catch (error) {
        if (!(error instanceof ChorusError) || !options.repeatable) throw error;
        // A request safe to repeat waits out a rate limit when the wait fits in its time.
        const wait = error.code === ErrorCode.rateLimited ? (error.retryAfterMs ?? 0) : null;
        if (wait !== null && wait > 0 && Date.now() + wait < deadline) {
          await new Promise((resolve) => setTimeout(resolve, wait));
          continue;
        }
        if (error.code !== ClientErrorCode.disconnected) throw error;
      }
    }
  }

  private send(
    frame: RequestFrame,
    options: { timeoutMs: number; onReply?: (frame: ServerFrame) => void },
  ): Promise<ServerFrame> {
    if (this.stateValue !== ConnectionState.connected || !this.socket) {
      return Promise.reject(
        new ChorusError(ClientErrorCode.disconnected, 'not connected', { retryable: true }),
      );
    }
    this.requestCounter += 1;
    const requestId = `${this.requestPrefix}${this.requestCounter}`;
    const text = JSON.stringify({ ...frame, requestId });
    const maxFrameBytes = this.welcome?.limits?.maxFrameBytes;
    if (maxFrameBytes !== undefined && new TextEncoder().encode(text).length > maxFrameBytes) {
      return Promise.reject(
        new ChorusError(
          ClientErrorCode.frameTooLarge,
          `the ${frame.type} frame is larger than the server's limit of ${maxFrameBytes} bytes`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(
          new ChorusError(
            ClientErrorCode.timeout,
            `no answer to ${frame.type} within ${options.timeoutMs} ms`,
            {
              retryable: true,
            },
          ),
        );
      }, options.timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer, onReply: options.onReply });
      this.sendText(text);
    });
  }

  private sendText(text: string): void {
    const socket = this.socket;
    if (!socket) return;
    try {
      socket.send(text);
    } catch (error) {
      // The socket is closing: its close event settles what waits.
      this.emit('error', new ChorusError(ClientErrorCode.disconnected, 'send failed', { cause: error }));
    }
  }

  private waitForConnection(deadline: number): Promise<void> {
    if (this.stateValue === ConnectionState.connected) return Promise.resolve();
    if (this.stateValue === ConnectionState.closed) return Promise.reject(this.closedError());
    this.start();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.waiters.delete(waiter);
          reject(new ChorusError(ClientErrorCode.timeout, 'not connected in time', { retryable: true }));
        },
        Math.min(Math.max(0, deadline - Date.now()), 2 ** 31 - 1),
      );
      const waiter: ConnectionWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  // --- the connection --------------------------------------------------------------------------

  private start(): void {
    if (this.stateValue !== ConnectionState.idle) return;
    this.openSocket();
  }

  private openSocket(): void {
    this.nextAttemptAt = null;
    this.setState(
      this.attempt === 0 && this.welcome === null ? ConnectionState.connecting : ConnectionState.reconnecting,
    );
    this.dial().catch((error: unknown) => {
      if (error instanceof ChorusError && error.code === ClientErrorCode.token) {
        this.emit('error', error);
        this.scheduleReconnect();
        return;
      }
      // The WebSocket could not even be made (a malformed URL): no attempt can succeed.
      const message = error instanceof Error ? error.message : String(error);
      this.fail(
        new ChorusError(ClientErrorCode.rejected, `cannot open ${this.options.url}: ${message}`, {
          cause: error,
        }),
        {
          code: 1006,
          reason: message,
        },
      );
    });
  }

  private async dial(): Promise<void> {
    const { token } = this.options;
    let value: string | undefined;
    try {
      value = typeof token === 'function' ? await token() : token;
    } catch (error) {
      throw new ChorusError(ClientErrorCode.token, 'the token provider failed', { cause: error });
    }
    if (this.stateValue === ConnectionState.closed) return;
    const socket = new this.WebSocketImplementation(this.options.url, [SUBPROTOCOL]);
    this.socket = socket;
    this.refusal = null;
    this.helloRequestId = `${this.requestPrefix}hello-${this.attempt}`;
    const hello = JSON.stringify({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      requestId: this.helloRequestId,
      ...(value ? { token: value } : {}),
      ...(this.options.user ? { user: this.options.user } : {}),
    });
    const connectTimeoutMs = this.options.connectTimeoutMs ?? 10_000;
    this.handshakeTimer = setTimeout(
      () => this.dropSocket(`no welcome within ${connectTimeoutMs} ms`),
      connectTimeoutMs,
    );
    socket.onopen = () => {
      if (socket === this.socket) socket.send(hello);
    };
    socket.onmessage = (event) => {
      if (socket === this.socket) this.socketOnMessage(event.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      detach(socket);
      this.connectionLost({ code: event.code, reason: event.reason });
    };
    socket.onerror = () => {
      // Browsers say nothing more about an error; the close event that follows is handled.
      if (socket === this.socket) this.lastClose = { code: 1006, reason: 'socket error' };
    };
  }

  private socketOnMessage(data: unknown): void {
    this.liveness.received();
    if (typeof data !== 'string') {
      this.emit('error', new ChorusError(ClientErrorCode.protocol, 'the server sent a binary frame'));
      return;
    }
    let frame: ServerFrame;
    try {
      const value: unknown = JSON.parse(data);
      if (
        typeof value !== 'object' ||
        value === null ||
        typeof (value as { type?: unknown }).type !== 'string'
      )
        throw new Error('not an object with a string type');
      frame = value as ServerFrame;
    } catch (error) {
      this.emit(
        'error',
        new ChorusError(ClientErrorCode.protocol, 'the server sent an unreadable frame', { cause: error }),
      );
      return;
    }
    const requestId =
      'requestId' in frame && typeof frame.requestId === 'string' ? frame.requestId : undefined;
    if (frame.type === 'welcome') {
      this.onWelcome(frame);
      return;
    }
    if (frame.type === 'incompatible') {
      this.refusal = new ChorusError(ClientErrorCode.incompatible, `incompatible protocol: ${frame.reason}`);
      return;
    }
    if (requestId !== undefined) {
      if (requestId === this.helloRequestId && frame.type === 'error') {
        this.refusal = errorFromFrame(frame);
        return;
      }
      this.settle(requestId, frame);
      return;
    }
    if (frame.type === 'error') {
      this.emit('error', errorFromFrame(frame));
      return;
    }
    if (threadEventTypes.has(frame.type) && 'threadId' in frame && typeof frame.threadId === 'string') {
      this.threads.get(frame.threadId)?.handleEvent(frame as ThreadEvent);
    }
  }

  private settle(requestId: string, frame: ServerFrame): void {
    const request = this.pending.get(requestId);
    if (!request) return; // timed out already
    this.pending.delete(requestId);
    clearTimeout(request.timer);
    request.onReply?.(frame);
    if (frame.type === 'error') request.reject(errorFromFrame(frame));
    else request.resolve(frame);
  }

  private onWelcome(frame: Welcome): void {
    clearTimeout(this.handshakeTimer);
    this.welcome = frame;
    this.attempt = 0;
    this.setState(ConnectionState.connected);
    this.liveness.start();
    this.emit('welcome', frame);
    for (const thread of [...this.threads.values()]) thread.connected();
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.resolve();
    }
  }

  /** Abandons the current socket without waiting for its close (it may be silent) and reconnects. */
  private dropSocket(reason: string): void {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    detach(socket);
    try {
      socket.close(4000, reason.slice(0, 120));
    } catch (error) {
      this.emit(
        'error',
        new ChorusError(ClientErrorCode.disconnected, 'closing a dead socket failed', { cause: error }),
      );
    }
    this.connectionLost({ code: 1006, reason });
  }

  private connectionLost(close: { code: number; reason: string }): void {
    clearTimeout(this.handshakeTimer);
    this.liveness.stop();
    this.lastClose = close;
    const lost = new ChorusError(ClientErrorCode.disconnected, `connection lost (${close.code})`, {
      retryable: true,
    });
    for (const [requestId, request] of this.pending) {
      this.pending.delete(requestId);
      clearTimeout(request.timer);
      request.reject(lost);
    }
    if (this.stateValue === ConnectionState.closed) return;
    for (const thread of [...this.threads.values()]) thread.disconnected();
    const advice = closeAdvice(close.code);
    if (this.refusal) {
      this.fail(this.refusal, close);
      return;
    }
    if (advice === CloseAdvice.stop) {
      const code: ErrorCode | ClientErrorCode =
        close.code === CloseCode.unauthorized ? 'unauthorized' : ClientErrorCode.rejected;
      this.fail(
        new ChorusError(
          code,
          `the server closed the connection with ${close.code} (${close.reason || 'no reason'}): not reconnecting`,
        ),
        close,
      );
      return;
    }
    if (advice === CloseAdvice.refreshToken && typeof this.options.token !== 'function') {
      this.fail(
        new ChorusError(ClientErrorCode.tokenExpired, 'the token expired and no token provider was given'),
        close,
      );
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stateValue === ConnectionState.closed) return;
    const delay = backoffDelay(this.attempt, this.transport.backoff);
    this.attempt += 1;
    this.nextAttemptAt = Date.now() + delay;
    this.setState(ConnectionState.reconnecting, true);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delay);
  }

  /** Closed for good by the server's answer. */
  private fail(error: ChorusError, close: { code: number; reason: string }): void {
    this.lastClose = close;
    this.errorValue = error;
    this.shutDown(error, error);
  }

  private shutDown(error: ChorusError, reported: ChorusError | null): void {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.handshakeTimer);
    this.liveness.stop();
    this.removeNetworkListeners();
    this.nextAttemptAt = null;
    this.setState(ConnectionState.closed);
    for (const [requestId, request] of this.pending) {
      this.pending.delete(requestId);
      clearTimeout(request.timer);
      request.reject(error);
    }
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter.reject(error);
    }
    for (const thread of [...this.threads.values()]) thread.clientClosed(error);
    if (reported) this.emit('error', reported);
  }

  private closedError(): ChorusError {
    return this.errorValue ?? new ChorusError(ClientErrorCode.closed, 'the client was closed');
  }

  private setState(state: ConnectionState, always = false): void {
    if (state === this.stateValue && !always) return;
    this.stateValue = state;
    this.emit('state', this.connection);
  }

  /** In browsers: reconnect at once when the network comes back; probe the connection when it goes. */
  private listenToNetwork(): () => void {
    const target = globalThis as {
      addEventListener?: ((type: string, listener: () => void) => void) | undefined;
      removeEventListener?: ((type: string, listener: () => void) => void) | undefined;
    };
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function')
      return () => undefined;
    const online = () => {
      if (this.stateValue !== ConnectionState.reconnecting || this.reconnectTimer === undefined) return;
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.openSocket();
    };
    const offline = () => this.liveness.probe();
    target.addEventListener('online', online);
    target.addEventListener('offline', offline);
    return () => {
      target.removeEventListener?.('online', online);
      target.removeEventListener?.('offline', offline);
    };
  }
}

function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}

function errorFromFrame(frame: FrameOf<'error'>): ChorusError {
  return new ChorusError(frame.code, frame.message, {
    retryable: frame.retryable,
    ...(frame.retryAfterMs === undefined ? {} : { retryAfterMs: frame.retryAfterMs }),
    ...(frame.threadId === undefined ? {} : { threadId: frame.threadId }),
  });
}
