// An MCP server as a team file defines it (`mcpServers.<name>`): a `command` that Chorus starts
// and speaks to over stdio, or the `url` of a streamable-HTTP server; the limits of its tools'
// calls (by default those of local tools, src/agents/tools.ts). `${NAME}` in `args`, `env`,
// `cwd` and `headers` values is read from the instance's environment when the connection is
// made, so secrets stay out of the file (see environment-references.ts).
import { z } from 'zod';

/** Server names prefix their tools' names (`files__read_file`): no `__` inside, so names stay unambiguous. */
export const MCP_SERVER_NAME = /^(?!.*__)[A-Za-z0-9_-]{1,32}$/;
export const McpServerName = z
  .string()
  .regex(
    MCP_SERVER_NAME,
    'MCP server names use letters, digits, _ and - only (at most 32, no "__"): they prefix tool names',
  );

const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const timeout = z.int().positive().max(600_000);
const byteLimit = z.int().positive().max(1_048_576);

export const McpServerSpec = z
  .strictObject({
    /** stdio: the executable to start (no shell), e.g. `npx` or `node`. */
    command: z.string().min(1).max(4096).optional(),
    args: z.array(z.string().max(4096)).max(256).optional(),
    /** Added to the safe default environment (PATH, HOME …) the SDK gives a server process. */
    env: z
      .record(
        z.string().regex(ENVIRONMENT_NAME, 'environment variable names use letters, digits and _'),
        z.string().max(65_536),
      )
      .optional(),
    cwd: z.string().min(1).max(4096).optional(),
    /** Streamable HTTP: the server's endpoint. */
    url: z
      .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
      .max(4096)
      .optional(),
    headers: z
      .record(z.string().regex(HEADER_NAME, 'not a valid HTTP header name'), z.string().max(16_384))
      .optional(),
    /** One tool call, connecting included. @default 30000 (as local tools) */
    timeoutMs: timeout.optional(),
    /** Starting or reaching the server, the MCP handshake and listing its tools. @default 10000 */
    connectTimeoutMs: timeout.optional(),
    /** @default 65536 (as local tools) */
    maxArgumentBytes: byteLimit.optional(),
    /** @default 16384 (as local tools) */
    maxOutputBytes: byteLimit.optional(),
  })
  .superRefine((spec, context) => {
    if ((spec.command === undefined) === (spec.url === undefined)) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: 'give either `command` (a server started over stdio) or `url` (streamable HTTP)',
      });
      return;
    }
    const misplaced =
      spec.url === undefined
        ? (['headers'] as const).filter((field) => spec[field] !== undefined)
        : (['args', 'env', 'cwd'] as const).filter((field) => spec[field] !== undefined);
    for (const field of misplaced) {
      context.addIssue({
        code: 'custom',
        path: [field],
        message:
          field === 'headers'
            ? '`headers` are for a `url` server; a `command` server gets `env`'
            : `\`${field}\` is for a \`command\` server; a \`url\` server gets \`headers\``,
      });
    }
  });
export type McpServerSpec = z.infer<typeof McpServerSpec>;

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The fields of a spec whose string values may hold `${NAME}` references, with their paths. */
export function referenceFields(spec: McpServerSpec): { path: (string | number)[]; value: string }[] {
  const fields: { path: (string | number)[]; value: string }[] = [];
  spec.args?.forEach((value, index) => fields.push({ path: ['args', index], value }));
  for (const [key, value] of Object.entries(spec.env ?? {})) fields.push({ path: ['env', key], value });
  if (spec.cwd !== undefined) fields.push({ path: ['cwd'], value: spec.cwd });
  for (const [key, value] of Object.entries(spec.headers ?? {}))
    fields.push({ path: ['headers', key], value });
  return fields;
}
