// The MCP tools one agent may call (`mcpTools: { files: [read_file] }` in a team file): a Tool
// per allowed tool, named `<server>__<tool>`, that the agent's tool loop runs like a local one —
// same arguments and output bounds, same timeout, every failure an `isError` result the model
// reads — and the tools' current specs (the server's description and JSON Schema) for each model
// call. Only allowed tools exist here: a tool the agent is not allowed is never offered, and a
// call naming one is answered `unknown tool` by the agent. A server that cannot be reached keeps
// its tools offered with their last known schema (or an open one and a description saying so),
// so that a call tries again and the model reads the failure.
import type { Logger } from '../../log.ts';
import type { ToolSpec } from '../model-client.ts';
import { invokeWithLimits, truncate, type ParsedArguments, type Tool } from '../tools.ts';
import {
  errorText,
  isConnectionFailure,
  type McpServerConnection,
  type McpTool,
} from './mcp-server-connection.ts';
import type { McpServerPool } from './mcp-server-pool.ts';
import { mcpResultText } from './mcp-result-text.ts';
import { mcpToolName } from './mcp-tool-name.ts';

/** Tool names an agent may call, by server name. */
export type McpToolAllowList = Readonly<Record<string, readonly string[]>>;

export interface McpToolBinding {
  /** What the model calls it: `<server>__<tool>`. */
  name: string;
  server: string;
  /** The server's name for it. */
  tool: string;
}

/** Longest description passed on to the model from a server. */
const MAX_DESCRIPTION_BYTES = 8192;

export class McpToolset {
  readonly bindings: readonly McpToolBinding[];
  private readonly pool: McpServerPool;
  private readonly logger: Logger | undefined;
  private readonly byName: ReadonlyMap<string, McpToolBinding>;
  /** Tools found missing on their server (warned once until they come back). */
  private readonly missing = new Set<string>();

  constructor(pool: McpServerPool, allowed: McpToolAllowList, options: { logger?: Logger } = {}) {
    this.pool = pool;
    this.logger = options.logger;
    const bindings: McpToolBinding[] = [];
    for (const [server, tools] of Object.entries(allowed)) {
      if (pool.get(server) === undefined) throw new Error(`no MCP server is named "${server}"`);
      for (const tool of tools) bindings.push({ name: mcpToolName(server, tool), server, tool });
    }
    this.bindings = bindings;
    this.byName = new Map(bindings.map((binding) => [binding.name, binding]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A Tool per allowed MCP tool, for the agent's tool loop (their specs are resolved per model call). */
  tools(): Tool[] {
    return this.bindings.map((binding) => this.tool(binding));
  }

  /**
   * The specs to offer the model now, by tool name: from each server's current listing (servers
   * connected lazily, in parallel, bounded by their connect timeout). A tool its server does not
   * list is left out. Rejects only with `signal.reason`.
   */
  async specs(signal: AbortSignal): Promise<Map<string, ToolSpec>> {
    const servers = [...new Set(this.bindings.map((binding) => binding.server))];
    const listings = new Map(
      await Promise.all(
        servers.map(async (server) => [server, await this.connection(server).listTools(signal)] as const),
      ),
    );
    const specs = new Map<string, ToolSpec>();
    for (const binding of this.bindings) {
      const listing = listings.get(binding.server)!;
      if (listing.tools === undefined) {
        specs.set(binding.name, unavailableSpec(binding, listing.error ?? 'not reached yet'));
        continue;
      }
      const tool = listing.tools.find((candidate) => candidate.name === binding.tool);
      if (tool === undefined) {
        if (!this.missing.has(binding.name)) {
          this.missing.add(binding.name);
          this.logger?.warn(
            { mcpServer: binding.server, tool: binding.tool },
            'mcp server does not list a tool an agent is allowed; it is not offered',
          );
        }
        continue;
      }
      this.missing.delete(binding.name);
      specs.set(binding.name, toolSpecOf(binding, tool));
    }
    return specs;
  }

  private tool(binding: McpToolBinding): Tool {
    const connection = this.connection(binding.server);
    const { limits } = connection;
    return {
      name: binding.name,
      description: `Tool "${binding.tool}" of the MCP server "${binding.server}".`,
      parameters: { type: 'object' },
      timeoutMs: limits.timeoutMs,
      invoke: (argumentsJson, context) =>
        invokeWithLimits({
          name: binding.name,
          limits,
          argumentsJson,
          context,
          parse: parseObject,
          execute: async (args, { signal }) => {
            let result;
            try {
              result = await connection.callTool(binding.tool, args, signal);
            } catch (error) {
              if (signal.aborted) throw signal.reason;
              throw new Error(failureText(binding.server, error), { cause: error });
            }
            const { text, isError } = mcpResultText(result);
            if (isError) throw new Error(text === '' ? 'the tool reported an error' : text);
            return text;
          },
        }),
    };
  }

  private connection(server: string): McpServerConnection {
    const connection = this.pool.get(server);
    if (connection === undefined) throw new Error(`no MCP server is named "${server}"`);
    return connection;
  }
}

function parseObject(raw: unknown): ParsedArguments<Record<string, unknown>> {
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    return { ok: true, value: raw as Record<string, unknown> };
  }
  return { ok: false, message: 'arguments must be a JSON object' };
}

function toolSpecOf(binding: McpToolBinding, tool: McpTool): ToolSpec {
  const { $schema: _dialect, ...parameters } = tool.inputSchema;
  const description = tool.description ?? tool.title ?? tool.annotations?.title ?? '';
  return {
    name: binding.name,
    description: truncate(description, MAX_DESCRIPTION_BYTES),
    parameters,
  };
}

function unavailableSpec(binding: McpToolBinding, reason: string): ToolSpec {
  return {
    name: binding.name,
    description: `Tool "${binding.tool}" of the MCP server "${binding.server}", which cannot be reached now (${truncate(reason, 500)}); a call tries to reach it again.`,
    parameters: { type: 'object' },
  };
}

function failureText(server: string, error: unknown): string {
  return isConnectionFailure(error)
    ? `the MCP server "${server}" is unavailable (${errorText(error)}); the next call tries again`
    : `the MCP server "${server}" answered with an error: ${errorText(error)}`;
}
