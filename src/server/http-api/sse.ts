// A Server-Sent Events response: the headers, `id:`/`data:` events, heartbeat comments every
// CHORUS_SSE_HEARTBEAT_MS, and the slow-consumer bound (a client that does not read is cut off
// past CHORUS_MAX_BUFFERED_BYTES unsent, and resumes with Last-Event-ID).
import type { ServerResponse } from 'node:http';
import { oversizeAllowanceFor } from '../../gateway/send-bound.ts';

export class SseResponse {
  private readonly response: ServerResponse;
  private readonly maxBufferedBytes: number;
  private oversizeAllowance = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private ended = false;
  private readonly onEnd: () => void;

  constructor(
    response: ServerResponse,
    options: { heartbeatMs: number; maxBufferedBytes: number; onEnd: () => void },
  ) {
    this.response = response;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.onEnd = options.onEnd;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Reverse proxies (nginx) must not hold the stream back.
      'x-accel-buffering': 'no',
    });
    response.flushHeaders();
    this.heartbeat = setInterval(() => this.comment('heartbeat'), options.heartbeatMs);
    response.on('close', () => this.finish());
    response.on('error', () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  /** One event: `id:` (when given; '' resets the client's last event id) and the data, one line. */
  event(data: string, id?: string): void {
    this.write(`${id === undefined ? '' : `id: ${id}\n`}data: ${data}\n\n`);
  }

  /** Writes an already encoded chunk (an encoder's `data: …\n\n`). */
  write(chunk: string): void {
    if (this.ended) return;
    // A chunk over the bound by itself goes while what is unsent is within it (one message over the
    // bound is no slow reader), and the bound stretches by its size while it drains, as for
    // WebSocket (Connection.tooSlowFor).
    const unsent = this.response.writableLength;
    const bytes = Buffer.byteLength(chunk);
    this.oversizeAllowance = oversizeAllowanceFor(
      unsent,
      bytes,
      this.maxBufferedBytes,
      this.oversizeAllowance,
    );
    if (unsent + bytes > this.maxBufferedBytes + this.oversizeAllowance) {
      this.end();
      return;
    }
    this.response.write(chunk);
  }

  /** Resolves once fewer than `bytes` are waiting to be sent (at once when they are), or the stream ended. */
  drained(bytes: number): Promise<void> {
    if (this.ended || this.response.writableLength < bytes) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.response.off('drain', done);
        this.response.off('close', done);
        resolve();
      };
      this.response.on('drain', done);
      this.response.on('close', done);
    });
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  end(): void {
    if (!this.response.writableEnded) this.response.end();
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.heartbeat);
    this.onEnd();
  }
}
