// A fake OpenAI-compatible HTTP server on 127.0.0.1, port 0, speaking the real SSE wire formats:
// - `POST /v1/chat/completions`: `data: <chunk>` events then `data: [DONE]`;
// - `POST /v1/responses`: `event: <type>` + `data: <event>` pairs (no [DONE], as OpenAI sends);
// - `DELETE /v1/responses/:id`: `{id, object, deleted}`.
// Each POST takes the next script from a queue: a fixture (test/fixtures/openai/<name>.jsonl, one
// JSON event per line) streamed as is, optionally slowly, cut off after N events (socket
// destroyed) or stalled after N events (held open until the client goes away); or an error
// response. Every request is recorded (method, path, headers, JSON body) with whether the client
// closed the connection before the response was complete.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeScript =
  | {
      /** A file name in test/fixtures/openai without `.jsonl`. */
      fixture: string;
      /** Wait this long before each event (a slow stream). */
      delayMs?: number;
      /** Wait this long before the response's headers (a provider slow to accept). */
      headersDelayMs?: number;
      /** Destroy the socket after this many events. */
      cutAfter?: number;
      /** Send this many events, then hold the response open until the client closes it. */
      stallAfter?: number;
      /** Rewrites each event before it is sent (e.g. to give a response another id). */
      transform?: (event: Record<string, unknown>) => Record<string, unknown>;
    }
  | {
      /** An error response. */
      status: number;
      body?: unknown;
      headers?: Record<string, string>;
    };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when there was none). */
  body: unknown;
  /** True when the client closed the connection before the response was complete. */
  aborted: boolean;
  /** Settles once the response is complete or the connection closed. */
  closed: Promise<void>;
}

const FIXTURES = new URL('../fixtures/openai/', import.meta.url);

export function loadFixture(name: string): Record<string, unknown>[] {
  const text = readFileSync(new URL(`${name}.jsonl`, FIXTURES), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch (error) {
        throw new Error(`fixture ${name}.jsonl line ${index + 1} is not JSON`, { cause: error });
      }
    });
}

export class FakeOpenAI {
  readonly requests: RecordedRequest[] = [];
  /** Status for `DELETE /v1/responses/:id` by id; 200 when it returns undefined. */
  deleteStatus: (responseId: string) => number | undefined = () => undefined;
  private readonly scripts: FakeScript[] = [];
  private readonly events = new EventEmitter();
  private readonly server: Server;
  private port = 0;

  private constructor() {
    this.server = createServer((request, response) => {
      this.serverOnRequest(request, response).catch((error: unknown) => {
        console.error('fake-openai: handler failed', error);
        response.destroy();
      });
    });
    this.server.on('error', (error) => console.error('fake-openai: server error', error));
  }

  static async start(): Promise<FakeOpenAI> {
    const fake = new FakeOpenAI();
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => {
        fake.server.off('error', reject);
        resolve();
      });
    });
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** `http://127.0.0.1:<port>/v1`, the SDK's `baseURL`. */
  get baseURL(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  /** Queues scripts; each POST to a model endpoint takes the next one. */
  script(...scripts: FakeScript[]): void {
    this.scripts.push(...scripts);
  }

  get pendingScripts(): number {
    return this.scripts.length;
  }

  /** Resolves once `count` requests have arrived; rejects after `timeoutMs` saying how many did. */
  waitForRequests(count: number, timeoutMs = 2000): Promise<RecordedRequest[]> {
    if (this.requests.length >= count) return Promise.resolve(this.requests.slice(0, count));
    return new Promise((resolve, reject) => {
      const onRequest = () => {
        if (this.requests.length < count) return;
        clearTimeout(timer);
        this.events.off('request', onRequest);
        resolve(this.requests.slice(0, count));
      };
      const timer = setTimeout(() => {
        this.events.off('request', onRequest);
        reject(
          new Error(`fake-openai: got ${this.requests.length} of ${count} requests within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.events.on('request', onRequest);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    );
  }

  private async serverOnRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let resolveClosed: () => void = () => undefined;
    const recorded: RecordedRequest = {
      method: request.method ?? '',
      path: (request.url ?? '').split('?')[0] ?? '',
      headers: request.headers,
      body: raw === '' ? undefined : (JSON.parse(raw) as unknown),
      aborted: false,
      closed: new Promise<void>((resolve) => {
        resolveClosed = resolve;
      }),
    };
    response.on('close', () => {
      recorded.aborted = !response.writableFinished;
      resolveClosed();
    });
    this.requests.push(recorded);
    this.events.emit('request', recorded);

    const { method, path } = recorded;
    if (method === 'DELETE' && path.startsWith('/v1/responses/')) {
      const responseId = decodeURIComponent(path.slice('/v1/responses/'.length));
      const status = this.deleteStatus(responseId) ?? 200;
      sendJson(
        response,
        status,
        status === 200
          ? { id: responseId, object: 'response', deleted: true }
          : errorBody(`fake-openai: delete ${responseId} failed`, status),
      );
      return;
    }
    if (method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/v1/responses')) {
      sendJson(response, 404, errorBody(`fake-openai: no route ${method} ${path}`, 404));
      return;
    }
    const script = this.scripts.shift();
    if (!script) {
      sendJson(response, 500, errorBody('fake-openai: no script queued for this request', 500));
      return;
    }
    if ('status' in script) {
      sendJson(
        response,
        script.status,
        script.body ?? errorBody('scripted error', script.status),
        script.headers,
      );
      return;
    }
    await streamFixture(response, path === '/v1/responses' ? 'responses' : 'chat', script);
  }
}

async function streamFixture(
  response: ServerResponse,
  format: 'chat' | 'responses',
  script: Extract<FakeScript, { fixture: string }>,
): Promise<void> {
  const events = loadFixture(script.fixture).map((event) =>
    script.transform ? script.transform(event) : event,
  );
  if (script.headersDelayMs) await new Promise((resolve) => setTimeout(resolve, script.headersDelayMs));
  if (response.destroyed) return;
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': `req_fake_${Date.now()}`,
  });
  response.flushHeaders();
  const gone = () => response.destroyed || response.writableEnded;
  for (let index = 0; index < events.length; index += 1) {
    if (script.cutAfter !== undefined && index >= script.cutAfter) {
      response.socket?.destroy();
      return;
    }
    if (script.stallAfter !== undefined && index >= script.stallAfter) return; // held open until the client closes
    if (script.delayMs) await new Promise((resolve) => setTimeout(resolve, script.delayMs));
    if (gone()) return;
    const event = events[index]!;
    const frame =
      format === 'chat'
        ? `data: ${JSON.stringify(event)}\n\n`
        : `event: ${String(event['type'])}\ndata: ${JSON.stringify(event)}\n\n`;
    await writeFrame(response, frame);
  }
  if (script.cutAfter !== undefined && script.cutAfter >= events.length) {
    response.socket?.destroy();
    return;
  }
  if (script.stallAfter !== undefined) return;
  if (gone()) return;
  if (format === 'chat') response.write('data: [DONE]\n\n');
  response.end();
}

/** Resolves once the frame is flushed, or at once when the connection is gone. */
function writeFrame(response: ServerResponse, frame: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      response.off('close', done);
      resolve();
    };
    response.once('close', done);
    response.write(frame, done);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

function errorBody(
  message: string,
  status: number,
): { error: { message: string; type: string; code: string | null } } {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, code: null } };
}
