// HTTP helpers for the `/v1` and AG-UI tests: JSON requests that return status, headers and
// parsed body, and an SSE reader over fetch whose every wait has a timeout and says what it was
// waiting for.

export interface JsonReply {
  status: number;
  headers: Headers;
  body: unknown;
  /** The raw body text (to check that no stack trace leaks). */
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (not JSON-encoded) when a string. */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
}

export async function request(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<JsonReply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

export interface SseEvent {
  /** The event's `id:` (undefined when it had none). */
  id: string | undefined;
  /** The event's `data:` lines joined with \n. */
  data: string;
  /** `data` parsed as JSON (undefined when it is not JSON). */
  json: Record<string, unknown> | undefined;
}

export class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly status: number;
  readonly headers: Headers;
  private ended = false;
  private listeners = new Set<() => void>();
  private readonly controller: AbortController;

  private constructor(response: Response, controller: AbortController) {
    this.status = response.status;
    this.headers = response.headers;
    this.controller = controller;
    void this.read(response);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 10_000);
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: controller.signal,
    });
    clearTimeout(timer);
    return new SseReader(response, controller);
  }

  /** Frames (the events' JSON) so far. */
  get frames(): Array<Record<string, unknown>> {
    return this.events.flatMap((event) => (event.json ? [event.json] : []));
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Resolves with the first event (from the start) that matches; rejects after `timeoutMs`. */
  waitFor(
    predicate: (event: SseEvent) => boolean,
    description: string,
    timeoutMs = 10_000,
  ): Promise<SseEvent> {
    return this.until(() => this.events.find(predicate), description, timeoutMs);
  }

  /** Resolves once a comment line has arrived; rejects after `timeoutMs`. */
  waitForComment(description: string, timeoutMs = 5000): Promise<string> {
    return this.until(() => this.comments[0], description, timeoutMs);
  }

  /** Resolves once the server ended the stream. */
  waitForEnd(timeoutMs = 10_000): Promise<true> {
    return this.until(() => (this.ended ? true : undefined), 'the end of the stream', timeoutMs);
  }

  close(): void {
    this.controller.abort();
  }

  private until<T>(check: () => T | undefined, description: string, timeoutMs: number): Promise<T> {
    const found = check();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const listener = () => {
        const value = check();
        if (value !== undefined) {
          done();
          resolve(value);
        } else if (this.ended) {
          done();
          reject(new Error(`the stream ended before ${description} (${this.events.length} events)`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${description} (${this.events.length} events)`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private async read(response: Response): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          this.parse(block);
        }
        this.notify();
      }
    } catch {
      // Aborted by close(), or the connection was cut: the stream has ended either way.
    }
    this.ended = true;
    this.notify();
  }

  private parse(block: string): void {
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('id:')) id = line.slice(3).replace(/^ /, '');
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length === 0 && id === undefined) return;
    const text = data.join('\n');
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    this.events.push({ id, data: text, json });
  }
}
