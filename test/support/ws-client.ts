// A raw-frame WebSocket test client. It speaks protocol.md frames as they are, records every
// frame it receives (in order, checked against the server frame schemas), and lets a test wait
// for frames. Every wait has a timeout and fails with a message that says what was awaited and
// what arrived instead. Nothing here sleeps: waits resolve on frames, pings or the close.
import WebSocket, { type RawData } from 'ws';
import { ServerFrame } from '../../src/protocol/frames.ts';

export type Frame = ServerFrame;
export type FrameType = Frame['type'];
export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;

/** A frame to send: any JSON object (tests also send malformed ones on purpose). */
export type OutgoingFrame = { type?: unknown; [field: string]: unknown };
export type Request = { type: string; requestId?: string; [field: string]: unknown };

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** Subprotocols to offer (default `chorus.v1`; `[]` offers none). */
  protocols?: string | string[];
  /** Answer WebSocket pings (default true, as browsers do). */
  autoPong?: boolean;
  /** The hello to send, then wait for `welcome` (default `{}`); `false` sends nothing. */
  hello?: { user?: string; token?: string; protocol?: number } | false;
  /** Bound for opening the socket and for the welcome (default 5000 ms). */
  timeoutMs?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** What is awaited, for the failure message. */
  description?: string;
}

export const DEFAULT_TIMEOUT_MS = 5000;

type Waiter = { check: () => boolean; fail: (reason: string) => void };

let requestCounter = 0;

export class TestClient {
  /** Every frame received, in order. */
  readonly frames: Frame[] = [];
  /** Frames that did not match the server frame schemas (any makes every later wait fail). */
  readonly invalidFrames: string[] = [];
  /** Resolves when the socket has closed, with the close code and reason the client saw. */
  readonly closed: Promise<CloseInfo>;
  /** WebSocket pings received from the server (the heartbeat). */
  pings = 0;
  /** The server's `welcome`, when the handshake was done by `connect`. */
  welcome: FrameOf<'welcome'> | undefined;
  readonly socket: WebSocket;
  private closeInfo: CloseInfo | undefined;
  private position = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly socketErrors: Error[] = [];

  constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise<CloseInfo>((resolve) => {
      socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        resolve(this.closeInfo);
        this.notify();
      });
    });
    socket.on('message', (data, isBinary) => this.socketOnMessage(data, isBinary));
    socket.on('ping', () => {
      this.pings += 1;
      this.notify();
    });
    socket.on('error', (error) => {
      // Recorded and reported by the next wait that fails; the 'close' event follows.
      this.socketErrors.push(error);
    });
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** The close code and reason, once closed. */
  get closeStatus(): CloseInfo | undefined {
    return this.closeInfo;
  }

  // --- sending -----------------------------------------------------------------------------------

  send(frame: OutgoingFrame): void {
    this.sendRaw(JSON.stringify(frame));
  }

  /** Sends text as is; a Buffer goes out as a binary frame. */
  sendRaw(data: string | Buffer): void {
    if (!this.isOpen) throw new Error(`cannot send: the socket is not open (${this.describeState()})`);
    this.socket.send(data, { binary: Buffer.isBuffer(data) });
  }

  /** Sends a request (adding a `requestId` when it has none) and resolves with the frame that echoes it. */
  request(frame: Request, options?: WaitOptions): Promise<Frame>;
  /** Same, and fails unless the answer has type `expected` (an `error` answer fails with its code). */
  request<T extends FrameType>(frame: Request, expected: T, options?: WaitOptions): Promise<FrameOf<T>>;
  async request<T extends FrameType>(
    frame: Request,
    expectedOrOptions?: T | WaitOptions,
    maybeOptions?: WaitOptions,
  ): Promise<Frame> {
    const expected = typeof expectedOrOptions === 'string' ? expectedOrOptions : undefined;
    const options = (typeof expectedOrOptions === 'string' ? maybeOptions : expectedOrOptions) ?? {};
    requestCounter += 1;
    const requestId = frame.requestId ?? `request-${requestCounter}`;
    const from = this.frames.length;
    this.send({ ...frame, requestId });
    const answer = await this.waitUntil(
      options.description ?? `the answer to ${frame.type} (requestId ${requestId})`,
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      () =>
        this.frames
          .slice(from)
          .find((candidate) => 'requestId' in candidate && candidate.requestId === requestId),
    );
    if (expected !== undefined && answer.type !== expected) {
      throw new Error(
        `${frame.type} (requestId ${requestId}): expected ${expected}, got ${JSON.stringify(answer)}`,
      );
    }
    return answer;
  }

  // --- waiting -----------------------------------------------------------------------------------

  /**
   * The next frame (after the ones already taken by next/waitFor/collectUntil) that matches
   * `predicate`; frames skipped on the way stay in `frames`.
   */
  async next(predicate: (frame: Frame) => boolean = () => true, options: WaitOptions = {}): Promise<Frame> {
    const index = await this.waitUntil(
      options.description ?? 'the next matching frame',
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      () => {
        for (let candidate = this.position; candidate < this.frames.length; candidate += 1) {
          if (predicate(this.frames[candidate]!)) return candidate;
        }
        return undefined;
      },
    );
    this.position = index + 1;
    return this.frames[index]!;
  }

  /**
   * The first frame received so far or later (from the very start, whatever next() took) that
   * matches `predicate`; the position of next() does not move.
   */
  async find(predicate: (frame: Frame) => boolean, options: WaitOptions = {}): Promise<Frame> {
    return this.waitUntil(
      options.description ?? 'a matching frame',
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      () => this.frames.find(predicate),
    );
  }

  /** The next frame of `type` (matching `predicate`, when given). */
  async waitFor<T extends FrameType>(
    type: T,
    predicate: (frame: FrameOf<T>) => boolean = () => true,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    description?: string,
  ): Promise<FrameOf<T>> {
    const frame = await this.next(
      (candidate) => candidate.type === type && predicate(candidate as FrameOf<T>),
      {
        timeoutMs,
        description: description ?? type,
      },
    );
    return frame as FrameOf<T>;
  }

  /** Every frame from the current position up to and including the first that matches `predicate`. */
  async collectUntil(predicate: (frame: Frame) => boolean, options: WaitOptions = {}): Promise<Frame[]> {
    const from = this.position;
    await this.next(predicate, { description: 'the frame that ends the collection', ...options });
    return this.frames.slice(from, this.position);
  }

  /**
   * The `count` frames that follow `anchor` (a frame of `frames`), once they have arrived; the
   * position of next() moves past them when it was not already further.
   */
  async framesAfter(anchor: Frame, count: number, options: WaitOptions = {}): Promise<Frame[]> {
    const index = this.frames.indexOf(anchor);
    if (index < 0)
      throw new Error(`framesAfter: ${JSON.stringify(anchor).slice(0, 200)} was not received by this client`);
    const frames = await this.waitUntil(
      options.description ?? `${count} frames after ${anchor.type}`,
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      () =>
        this.frames.length > index + count ? this.frames.slice(index + 1, index + 1 + count) : undefined,
    );
    this.position = Math.max(this.position, index + 1 + count);
    return frames;
  }

  /** Resolves once at least `count` WebSocket pings have arrived. */
  async waitForPings(count: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    await this.waitUntil(`${count} pings (got ${this.pings})`, timeoutMs, () =>
      this.pings >= count ? true : undefined,
    );
  }

  /** The close code and reason, waiting for the close (bounded). */
  async waitForClose(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseInfo> {
    return this.waitUntil('the connection to close', timeoutMs, () => this.closeInfo, { evenIfClosed: true });
  }

  /** Marks where the next `next()` starts: everything received so far counts as taken. */
  skipReceived(): void {
    this.position = this.frames.length;
  }

  // --- flow control and closing -------------------------------------------------------------------

  /** Stops reading from the socket (a viewer that stops consuming); the server's buffers fill up. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes with 1000 and waits for the close (bounded); nothing when already closed. */
  async close(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseInfo> {
    if (this.closeInfo) return this.closeInfo;
    if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    else this.socket.close(1000, 'done');
    return this.waitForClose(timeoutMs);
  }

  /** Drops the TCP connection without a closing handshake (a network failure). */
  async terminate(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<CloseInfo> {
    this.socket.terminate();
    return this.waitForClose(timeoutMs);
  }

  /** Frame types received so far, for failure messages (`error` frames with their code). */
  summary(frames: readonly Frame[] = this.frames, max = 40): string {
    const names = frames.map((frame) => (frame.type === 'error' ? `error(${frame.code})` : frame.type));
    const shown = names.length > max ? [`… ${names.length - max} earlier`, ...names.slice(-max)] : names;
    return `${frames.length} frame${frames.length === 1 ? '' : 's'}${shown.length > 0 ? `: ${shown.join(', ')}` : ''}`;
  }

  // --- internals ---------------------------------------------------------------------------------

  private socketOnMessage(data: RawData, isBinary: boolean): void {
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    if (isBinary) {
      this.invalidFrames.push(`binary frame: ${text.slice(0, 200)}`);
      this.notify();
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.invalidFrames.push(`not JSON (${String(error)}): ${text.slice(0, 200)}`);
      this.notify();
      return;
    }
    const parsed = ServerFrame.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.invalidFrames.push(
        `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'} in ${text.slice(0, 300)}`,
      );
      this.notify();
      return;
    }
    this.frames.push(parsed.data);
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter.check();
  }

  private describeState(): string {
    if (this.closeInfo)
      return `closed with ${this.closeInfo.code}${this.closeInfo.reason ? ` "${this.closeInfo.reason}"` : ''}`;
    return ['connecting', 'open', 'closing', 'closed'][this.socket.readyState] ?? 'unknown';
  }

  /**
   * Resolves with `check()`'s first defined value, evaluated now and after every frame, ping and
   * the close. Fails on timeout, on an invalid server frame, and when the socket closes first
   * (unless `evenIfClosed`).
   */
  private waitUntil<T>(
    description: string,
    timeoutMs: number,
    check: () => T | undefined,
    options: { evenIfClosed?: boolean } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (outcome: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        outcome();
      };
      const failure = (what: string) => {
        const errors =
          this.socketErrors.length > 0 ? `; socket errors: ${this.socketErrors.map(String).join('; ')}` : '';
        return new Error(`${what} waiting for ${description}; got ${this.summary()}${errors}`);
      };
      const waiter: Waiter = {
        check: () => {
          if (this.invalidFrames.length > 0) {
            finish(() =>
              reject(failure(`the server sent a frame outside the protocol (${this.invalidFrames[0]})`)),
            );
            return true;
          }
          const value = check();
          if (value !== undefined) {
            finish(() => resolve(value));
            return true;
          }
          if (this.closeInfo && !options.evenIfClosed) {
            finish(() => reject(failure(`connection ${this.describeState()}`)));
            return true;
          }
          return false;
        },
        fail: (reason) => finish(() => reject(failure(reason))),
      };
      const timer = setTimeout(() => waiter.fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.waiters.add(waiter);
      waiter.check();
    });
  }
}

/**
 * Opens a WebSocket to `url` and, unless `hello: false`, does the handshake (resolving once
 * `welcome` arrived; failing with what came instead). Fails when the upgrade is refused.
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const protocols = options.protocols ?? 'chorus.v1';
  const socket = new WebSocket(url, protocols, {
    autoPong: options.autoPong ?? true,
    handshakeTimeout: timeoutMs,
  });
  const client = new TestClient(socket);
  await new Promise<void>((resolve, reject) => {
    const onOpen = () => {
      socket.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      socket.off('open', onOpen);
      reject(new Error(`could not connect to ${url}: ${error.message}`));
    };
    socket.once('open', onOpen);
    socket.once('error', onError);
  });
  if (options.hello === false) return client;
  const hello = options.hello ?? {};
  client.send({
    type: 'hello',
    protocol: hello.protocol ?? 1,
    ...(hello.token ? { token: hello.token } : {}),
    ...(hello.user ? { user: hello.user } : {}),
  });
  const answer = await client.next(
    (frame) => frame.type === 'welcome' || frame.type === 'error' || frame.type === 'incompatible',
    {
      timeoutMs,
      description: 'welcome',
    },
  );
  if (answer.type !== 'welcome') throw new Error(`hello was answered with ${JSON.stringify(answer)}`);
  client.welcome = answer;
  return client;
}
