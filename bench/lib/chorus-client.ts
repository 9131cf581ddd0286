// A small raw-frame Chorus client for the orchestrator (create threads, post, cancel, resume and
// time-to-first-token measurements). It stamps every frame with its arrival time (bench ms) and
// every wait is bounded.
import WebSocket, { type RawData } from 'ws';
import { now, waitUntil } from './clock.ts';

export interface ReceivedFrame {
  type: string;
  receivedAt: number;
  /** The frame's fields (parsed lazily for big frames would not pay off here: parsed at once). */
  fields: Record<string, unknown>;
}

let requestCounter = 0;

export class ChorusClient {
  readonly frames: ReceivedFrame[] = [];
  private readonly socket: WebSocket;
  private readonly listeners = new Set<(frame: ReceivedFrame) => void>();
  private closed = false;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: RawData) => {
      const receivedAt = now();
      const text = Buffer.isBuffer(data) ? data.toString() : Buffer.from(data as ArrayBuffer).toString();
      const fields = JSON.parse(text) as Record<string, unknown>;
      const frame: ReceivedFrame = { type: String(fields.type), receivedAt, fields };
      this.frames.push(frame);
      if (this.frames.length > 20_000) this.frames.splice(0, 10_000);
      for (const listener of [...this.listeners]) listener(frame);
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(wsUrl: string, user = 'bench', timeoutMs = 10_000): Promise<ChorusClient> {
    const socket = new WebSocket(wsUrl, ['chorus.v1'], { perMessageDeflate: false });
    socket.on('error', (error) => console.warn(`  chorus client (${wsUrl}): ${error.message}`));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`could not connect to ${wsUrl} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const client = new ChorusClient(socket);
    await client.request({ type: 'hello', protocol: 1, user }, 'welcome', timeoutMs);
    return client;
  }

  /** Sends a frame without waiting. */
  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Resolves with the first frame (arriving from now on) that satisfies `predicate`. */
  next(
    predicate: (frame: ReceivedFrame) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<ReceivedFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = (frame: ReceivedFrame) => {
        if (!predicate(frame)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(frame);
      };
      this.listeners.add(listener);
    });
  }

  /** Sends a request (a requestId is added) and resolves with its `replyType` reply; rejects on `error`. */
  async request(
    frame: Record<string, unknown>,
    replyType: string,
    timeoutMs = 10_000,
  ): Promise<ReceivedFrame> {
    requestCounter += 1;
    const requestId = `bench-${requestCounter}`;
    const reply = this.next(
      (candidate) =>
        (candidate.type === replyType || candidate.type === 'error') &&
        (candidate.fields.requestId === requestId ||
          (frame.type === 'hello' && candidate.type === 'welcome')),
      timeoutMs,
      `${replyType} for ${String(frame.type)}`,
    );
    this.send({ ...frame, requestId });
    const received = await reply;
    if (received.type === 'error') {
      throw new Error(
        `${String(frame.type)} failed: ${String(received.fields.code)} ${String(received.fields.message)}`,
      );
    }
    return received;
  }

  /** Waits until the socket is quiet, i.e. `condition` holds (bounded). */
  waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    return waitUntil(condition, timeoutMs, 2);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (!this.closed) this.socket.close(1000, 'bench done');
    this.closed = true;
  }
}
