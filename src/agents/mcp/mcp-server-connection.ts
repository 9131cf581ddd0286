// One MCP server, as one shared connection (an SDK `Client` over stdio or streamable HTTP) for
// every run and agent of the instance. It is made lazily, on the first listing or call, and
// remade after it broke: a server process that died, an HTTP session that is gone, a transport
// error, or a server that does not answer a ping after a call was given up on (a hung server is
// restarted before the next call). During a call over HTTP the server is probed every second, so
// one that went away fails the call at once rather than at its deadline. A failed attempt to
// connect makes listings wait a backoff (1 s doubling to 30 s) before the next attempt, so that a
// dead server does not slow every model call; a tool call always tries again. Tool lists are cached per connection, paged through, and fetched again
// after a `tools/list_changed` notification or a reconnect. Secrets in `env` and `headers` are
// expanded from the environment when the connection is made and never logged.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import packageJson from '../../../package.json' with { type: 'json' };
import type { Logger } from '../../log.ts';
import { raceAbort, toolLimits, type ToolLimits } from '../tools.ts';
import { expandRecord, expandReferences, type Environment } from './environment-references.ts';
import type { McpCallResult } from './mcp-result-text.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS, type McpServerSpec } from './mcp-server-spec.ts';

export type { McpTool };

export interface McpToolListing {
  /** The server's tools now, or the last ones known when it cannot be reached (undefined: never listed). */
  tools: readonly McpTool[] | undefined;
  /** Why the server cannot be reached now. */
  error?: string | undefined;
}

export interface McpServerConnectionOptions {
  name: string;
  spec: McpServerSpec;
  /** Where `${NAME}` references are read. */
  environment: Environment;
  logger: Logger;
}

interface Session {
  client: Client;
  transport: Transport;
}

const RETRY_BASE_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** Pages of `tools/list` read at most (a server that pages forever is cut off). */
const MAX_TOOL_PAGES = 100;
const STDERR_LINE_BYTES = 2000;
const TERMINATE_SESSION_MS = 1000;
/** A healthy server answers a ping at once; one that does not within this is taken as blocked. */
const PING_TIMEOUT_MS = 1000;
/** While a call is in flight over HTTP, how often the server is probed (a dead one is dropped). */
const LIVENESS_INTERVAL_MS = 1000;

export class McpServerConnection {
  readonly name: string;
  /** Bounds of one call of this server's tools (the spec's, else those of local tools). */
  readonly limits: ToolLimits;
  readonly connectTimeoutMs: number;
  private readonly spec: McpServerSpec;
  private readonly environment: Environment;
  private readonly logger: Logger;
  private session: Session | undefined;
  private connecting: Promise<Session> | undefined;
  private listing: Promise<readonly McpTool[]> | undefined;
  /** The tool list of the current session, while no list_changed said otherwise. */
  private tools: readonly McpTool[] | undefined;
  /** Bumped whenever `tools` is invalidated, so that a listing in flight does not store a stale list. */
  private toolsVersion = 0;
  private lastKnownTools: readonly McpTool[] | undefined;
  private failure: { message: string; attempts: number; retryAt: number } | undefined;
  /** Pings after a given-up call, by session: the next call waits for the verdict. */
  private readonly healthChecks = new Map<Client, Promise<void>>();
  /** Sessions with a liveness probe in flight (one at a time). */
  private readonly probing = new WeakSet<Client>();
  /** Why a session was dropped: the failure its pending calls report. */
  private readonly dropReasons = new WeakMap<Client, unknown>();
  private readonly background = new Set<Promise<void>>();
  private closed = false;

  constructor(options: McpServerConnectionOptions) {
    this.name = options.name;
    this.spec = options.spec;
    this.environment = options.environment;
    this.logger = options.logger.child({ mcpServer: options.name });
    this.limits = toolLimits(options.spec);
    this.connectTimeoutMs = options.spec.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  /** Whether a session is open now (for tests and diagnostics). */
  get connected(): boolean {
    return this.session !== undefined;
  }

  /**
   * The server's tools, connecting when needed. Never rejects for a server-side failure: the
   * listing then says why and holds the last tools known. Rejects only with `signal.reason`.
   */
  async listTools(signal: AbortSignal): Promise<McpToolListing> {
    signal.throwIfAborted();
    if (this.closed) return { tools: this.lastKnownTools, error: this.closedMessage() };
    if (this.session === undefined && this.failure !== undefined && Date.now() < this.failure.retryAt) {
      return { tools: this.lastKnownTools, error: this.failure.message };
    }
    try {
      return { tools: await raceAbort(this.currentTools(), signal) };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      return { tools: this.lastKnownTools, error: errorText(error) };
    }
  }

  /**
   * Calls a tool, connecting when needed. Rejects with the failure (connecting, transport, or
   * an MCP error the server answered), or with `signal.reason` when the signal aborts, after
   * which the server gets a cancellation and a ping tells whether it still answers.
   */
  async callTool(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<McpCallResult> {
    let session = await raceAbort(this.connect(), signal);
    const verdict = this.healthChecks.get(session.client);
    if (verdict !== undefined) {
      // An earlier call was given up on: a blocked server is not sent another one.
      await raceAbort(verdict, signal);
      session = await raceAbort(this.connect(), signal);
    }
    const stopWatching = this.watchLiveness(session);
    try {
      return await session.client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        // Our own deadline (the tool's) governs; the SDK's is only a backstop.
        timeout: this.limits.timeoutMs + this.connectTimeoutMs,
      });
    } catch (error) {
      if (signal.aborted) {
        this.checkHealth(session);
        throw signal.reason;
      }
      const reason = this.dropReasons.get(session.client);
      if (reason !== undefined) throw reason instanceof Error ? reason : new Error(errorText(reason));
      if (isConnectionFailure(error)) this.drop(session, error);
      throw error;
    } finally {
      stopWatching();
    }
  }

  /** Closes the session (stopping a server process) and refuses further use. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connecting?.catch(() => undefined); // its failure was logged where it happened
    const session = this.session;
    this.session = undefined;
    if (session) {
      if (session.transport instanceof StreamableHTTPClientTransport) {
        await this.terminateSession(session.transport);
      }
      await this.closeSession(session);
    }
    await Promise.all([...this.background]);
  }

  // -------------------------------------------------------------------------------------------

  private currentTools(): Promise<readonly McpTool[]> {
    if (this.session !== undefined && this.tools !== undefined) return Promise.resolve(this.tools);
    this.listing ??= this.fetchTools().finally(() => {
      this.listing = undefined;
    });
    return this.listing;
  }

  private async fetchTools(): Promise<readonly McpTool[]> {
    const session = await this.connect();
    const version = this.toolsVersion;
    const tools: McpTool[] = [];
    try {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_TOOL_PAGES; page += 1) {
        const result = await session.client.listTools(cursor === undefined ? undefined : { cursor }, {
          timeout: this.connectTimeoutMs,
        });
        tools.push(...result.tools);
        cursor = result.nextCursor;
        if (cursor === undefined) break;
      }
    } catch (error) {
      this.recordFailure(error);
      if (isConnectionFailure(error) || isTimeout(error)) this.drop(session, error);
      throw error;
    }
    if (this.session === session && this.toolsVersion === version) this.tools = tools;
    this.lastKnownTools = tools;
    this.logger.debug({ tools: tools.map((tool) => tool.name) }, 'mcp server tools listed');
    return tools;
  }

  private connect(): Promise<Session> {
    if (this.closed) return Promise.reject(new Error(this.closedMessage()));
    if (this.session !== undefined) return Promise.resolve(this.session);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<Session> {
    let session: Session;
    try {
      session = this.createSession();
    } catch (error) {
      this.recordFailure(error);
      throw error;
    }
    const { client, transport } = session;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`no answer to the MCP handshake within ${this.connectTimeoutMs} ms`)),
      this.connectTimeoutMs,
    );
    try {
      await raceAbort(client.connect(transport, { timeout: this.connectTimeoutMs }), deadline.signal);
    } catch (error) {
      this.recordFailure(error);
      this.track(this.closeSession(session)); // a process that ignores stdin takes seconds to stop
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      await this.closeSession(session);
      throw new Error(this.closedMessage());
    }
    this.session = session;
    this.tools = undefined;
    this.toolsVersion += 1;
    this.failure = undefined;
    const server = client.getServerVersion();
    this.logger.info(
      {
        transport: this.spec.url === undefined ? 'stdio' : 'streamable-http',
        ...(transport instanceof StdioClientTransport ? { pid: transport.pid } : {}),
        serverName: server?.name,
        serverVersion: server?.version,
      },
      'mcp server connected',
    );
    return session;
  }

  /** A client and its transport, not yet connected. Throws when a `${NAME}` is not set. */
  private createSession(): Session {
    const client = new Client(
      { name: 'chorus', version: packageJson.version },
      {
        capabilities: {},
        listChanged: {
          tools: {
            autoRefresh: false, // fetched again (every page) on the next listing
            debounceMs: 0, // marked stale at once, before a result that follows the notification
            onChanged: () => this.clientOnToolsChanged(client),
          },
        },
      },
    );
    const transport = this.createTransport();
    const session = { client, transport };
    client.onclose = () => this.clientOnClose(client);
    client.onerror = (error) => {
      this.logger.debug({ err: error }, 'mcp server transport error');
      // A response stream that broke mid-call, say: whether the server is still there decides.
      if (this.session === session) this.probe(session);
    };
    return session;
  }

  private createTransport(): Transport {
    const { spec, environment } = this;
    if (spec.url !== undefined) {
      return new StreamableHTTPClientTransport(new URL(spec.url), {
        requestInit: { headers: expandRecord(spec.headers, environment) },
        // One attempt to re-open the notification stream; a broken session is remade on use.
        reconnectionOptions: {
          initialReconnectionDelay: 1000,
          maxReconnectionDelay: 30_000,
          reconnectionDelayGrowFactor: 2,
          maxRetries: 1,
        },
      });
    }
    const transport = new StdioClientTransport({
      command: spec.command!,
      args: (spec.args ?? []).map((argument) => expandReferences(argument, environment)),
      env: { ...getDefaultEnvironment(), ...expandRecord(spec.env, environment) },
      ...(spec.cwd === undefined ? {} : { cwd: expandReferences(spec.cwd, environment) }),
      stderr: 'pipe',
    });
    this.followStderr(transport);
    return transport;
  }

  /** Logs what a server process writes on stderr (debug), line by line, bounded. */
  private followStderr(transport: StdioClientTransport): void {
    const stream = transport.stderr;
    if (!stream) return;
    let pending = '';
    stream.on('data', (chunk: Buffer | string) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = (lines.pop() ?? '').slice(-STDERR_LINE_BYTES);
      for (const line of lines) {
        if (line.trim() !== '')
          this.logger.debug({ line: line.slice(0, STDERR_LINE_BYTES) }, 'mcp server stderr');
      }
    });
    stream.on('error', (error: Error) => this.logger.debug({ err: error }, 'mcp server stderr error'));
  }

  private clientOnToolsChanged(client: Client): void {
    if (this.session?.client !== client) return;
    this.tools = undefined;
    this.toolsVersion += 1;
    this.logger.debug('mcp server tools changed');
  }

  private clientOnClose(client: Client): void {
    if (this.session?.client !== client) return;
    this.session = undefined;
    this.tools = undefined;
    this.toolsVersion += 1;
    if (!this.closed) this.logger.warn('mcp server closed the connection; it is reconnected on the next use');
  }

  /** Forgets a broken session (closing it in the background) so that the next use reconnects. */
  private drop(session: Session, error: unknown): void {
    if (!this.dropReasons.has(session.client)) this.dropReasons.set(session.client, error);
    if (this.session === session) {
      this.session = undefined;
      this.tools = undefined;
      this.toolsVersion += 1;
      this.logger.warn(
        { reason: errorText(error) },
        'mcp server connection dropped; it is reconnected on the next use',
      );
    }
    this.track(this.closeSession(session));
  }

  /**
   * After a call was given up on: a server that does not answer a ping at once is dropped (and
   * restarted on use). The next call waits for this verdict rather than queueing behind a
   * blocked process.
   */
  private checkHealth(session: Session): void {
    if (this.session !== session || this.healthChecks.has(session.client)) return;
    const check = this.ping(session, PING_TIMEOUT_MS, { dropOnTimeout: true }).finally(() =>
      this.healthChecks.delete(session.client),
    );
    this.healthChecks.set(session.client, check);
    this.track(check);
  }

  /**
   * While a call is in flight over HTTP: a server that went away (its process died, the
   * connection is refused) is noticed by a probe within about a second and the session dropped,
   * which fails the call as unavailable at once — the SDK's transport would otherwise wait for
   * the response until the call's deadline. A probe that only times out drops nothing: a server
   * busy with a long call is not blocked, and the call's own deadline governs. Stdio needs no
   * probe: a process that exits closes the transport.
   */
  private watchLiveness(session: Session): () => void {
    if (!(session.transport instanceof StreamableHTTPClientTransport)) return () => undefined;
    const timer = setInterval(() => this.probe(session), LIVENESS_INTERVAL_MS);
    timer.unref();
    return () => clearInterval(timer);
  }

  private probe(session: Session): void {
    if (this.session !== session || this.probing.has(session.client)) return;
    this.probing.add(session.client);
    this.track(
      this.ping(session, 5000, { dropOnTimeout: false }).finally(() => this.probing.delete(session.client)),
    );
  }

  /** Pings (within `timeoutMs`, at most connectTimeoutMs); a failure drops the session, a timeout only when told. */
  private ping(session: Session, timeoutMs: number, { dropOnTimeout }: { dropOnTimeout: boolean }) {
    return session.client.ping({ timeout: Math.min(this.connectTimeoutMs, timeoutMs) }).then(
      () => undefined,
      (error: unknown) => {
        if (dropOnTimeout || (isConnectionFailure(error) && !isTimeout(error))) this.drop(session, error);
      },
    );
  }

  private async closeSession(session: Session): Promise<void> {
    try {
      await session.client.close(); // stdio: ends stdin, then SIGTERM, then SIGKILL
    } catch (error) {
      this.logger.debug({ err: error }, 'mcp server close failed');
    }
  }

  private async terminateSession(transport: StreamableHTTPClientTransport): Promise<void> {
    const deadline = AbortSignal.timeout(TERMINATE_SESSION_MS);
    try {
      await raceAbort(transport.terminateSession(), deadline);
    } catch (error) {
      this.logger.debug({ err: error }, 'mcp server session not terminated');
    }
  }

  private recordFailure(error: unknown): void {
    const attempts = (this.failure?.attempts ?? 0) + 1;
    const waitMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1));
    const message = errorText(error);
    this.failure = { message, attempts, retryAt: Date.now() + waitMs };
    this.logger.warn({ reason: message, attempts, retryInMs: waitMs }, 'mcp server unavailable');
  }

  private track(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  private closedMessage(): string {
    return `the MCP server "${this.name}" is shut down`;
  }
}

/** True for failures of the connection itself (as opposed to an error the server answered). */
export function isConnectionFailure(error: unknown): boolean {
  // Anything but an MCP error is the transport's: a fetch failure, an HTTP status (a session
  // the server no longer knows), a process that could not start, "Not connected" …
  return !(error instanceof McpError) || error.code === ErrorCode.ConnectionClosed;
}

function isTimeout(error: unknown): boolean {
  return error instanceof McpError && error.code === ErrorCode.RequestTimeout;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message || error.name}${cause}`;
  }
  return String(error);
}
