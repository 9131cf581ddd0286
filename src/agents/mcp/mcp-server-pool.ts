// The MCP servers of a team file: one shared connection per server definition for the whole
// instance (every team, run and agent), none opened before first use, all closed on shutdown.
import { silentLogger, type Logger } from '../../log.ts';
import type { Environment } from './environment-references.ts';
import { McpServerConnection } from './mcp-server-connection.ts';
import { z } from 'zod';
import { McpServerName, McpServerSpec } from './mcp-server-spec.ts';

export interface McpServerPoolOptions {
  /** Where `${NAME}` references in `args`, `env`, `cwd` and `headers` are read. @default process.env */
  environment?: Environment | undefined;
  logger?: Logger | undefined;
}

export class McpServerPool {
  private readonly connections = new Map<string, McpServerConnection>();

  constructor(specs: Readonly<Record<string, McpServerSpec>>, options: McpServerPoolOptions = {}) {
    const environment = options.environment ?? process.env;
    const logger = options.logger ?? silentLogger;
    for (const [name, spec] of Object.entries(specs)) {
      // A team file's specs are checked already; a library caller's are checked here.
      const checked = z.object({ name: McpServerName, spec: McpServerSpec }).safeParse({ name, spec });
      if (!checked.success) throw new Error(`MCP server "${name}": ${z.prettifyError(checked.error)}`);
      this.connections.set(
        name,
        new McpServerConnection({ name, spec: checked.data.spec, environment, logger }),
      );
    }
  }

  get(name: string): McpServerConnection | undefined {
    return this.connections.get(name);
  }

  names(): string[] {
    return [...this.connections.keys()];
  }

  /** Closes every connection (server processes are stopped); later uses fail as tool errors. */
  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((connection) => connection.close()));
  }
}
