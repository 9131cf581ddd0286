// Team files (CHORUS_TEAM_FILE): YAML or JSON, several named teams, validated by zod. Every error
// names the field path and the line (and column) in the file, from the YAML document's node
// ranges, so that `teams.review.agents[1].model.provider (line 14, column 19): …` leads straight
// to the mistake. Secrets never belong in a file: keys such as `apiKey` are refused with a hint to
// use `apiKeyEnv`, the NAME of an environment variable; an MCP server's `headers` and `env` name
// theirs as `${NAME}` references (checked to be set when the environment is given).
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import { z } from 'zod';
import { ModelSpec } from '../agents/model-factory.ts';
import { referencedVariables } from '../agents/mcp/environment-references.ts';
import { McpServerName, McpServerSpec, referenceFields } from '../agents/mcp/mcp-server-spec.ts';
import { isModelToolName, mcpToolName } from '../agents/mcp/mcp-tool-name.ts';

// ---------------------------------------------------------------------------------------------
// The schema.

const NAME = /^[A-Za-z0-9_.:-]+$/;
const name = (what: string) =>
  z.string().min(1).max(64).regex(NAME, `${what} names use letters, digits and _ . : - only`);
const positiveInt = z.int().positive();

// A model spec is the model factory's (provider, model, baseURL, apiKeyEnv, temperature, …).
export { ModelSpec };
export const ModelProvider = ModelSpec.shape.provider;
export type ModelProvider = ModelSpec['provider'];

export type SelectionSpec =
  | { type: 'sequential'; initialAgent?: string | undefined }
  | { type: 'mention'; fallback?: SelectionSpec | undefined; allowSelfMention?: boolean | undefined }
  | {
      type: 'llm';
      model?: ModelSpec | undefined;
      instructions?: string | undefined;
      maxRetries?: number | undefined;
      fallback?: SelectionSpec | undefined;
      historyLimit?: number | undefined;
      allowRepeatedSpeaker?: boolean | undefined;
      maxOutputTokens?: number | undefined;
    };

export const SelectionSpec: z.ZodType<SelectionSpec> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('sequential'), initialAgent: z.string().optional() }),
    z.strictObject({
      type: z.literal('mention'),
      fallback: SelectionSpec.optional(),
      allowSelfMention: z.boolean().optional(),
    }),
    z.strictObject({
      type: z.literal('llm'),
      model: ModelSpec.optional(),
      instructions: z.string().max(20_000).optional(),
      maxRetries: z.int().min(0).max(10).optional(),
      fallback: SelectionSpec.optional(),
      historyLimit: positiveInt.optional(),
      allowRepeatedSpeaker: z.boolean().optional(),
      maxOutputTokens: positiveInt.optional(),
    }),
  ]),
);

export type TerminationSpec =
  | { type: 'max-iterations'; maxIterations: number }
  | {
      type: 'text-mention';
      text: string;
      agents?: string[] | undefined;
      ignoreCase?: boolean | undefined;
      detail?: string | undefined;
    }
  | {
      type: 'regex';
      pattern: string;
      flags?: string | undefined;
      agents?: string[] | undefined;
      detail?: string | undefined;
    }
  | {
      type: 'llm-judge';
      model?: ModelSpec | undefined;
      instructions?: string | undefined;
      agents?: string[] | undefined;
      historyLimit?: number | undefined;
      maxRetries?: number | undefined;
      maxOutputTokens?: number | undefined;
    }
  | {
      type: 'token-budget';
      maxTotalTokens?: number | undefined;
      maxInputTokens?: number | undefined;
      maxOutputTokens?: number | undefined;
    }
  | { type: 'timeout'; timeoutMs: number }
  | { type: 'any' | 'all'; of: TerminationSpec[] };

const agentList = z.array(z.string().min(1)).min(1).optional();
const detailName = z.string().min(1).max(64).optional();

export const TerminationSpec: z.ZodType<TerminationSpec> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('max-iterations'), maxIterations: positiveInt }),
    z.strictObject({
      type: z.literal('text-mention'),
      text: z.string().min(1),
      agents: agentList,
      ignoreCase: z.boolean().optional(),
      detail: detailName,
    }),
    z
      .strictObject({
        type: z.literal('regex'),
        pattern: z.string().min(1).refine(compiles, 'not a valid regular expression'),
        flags: z
          .string()
          .regex(/^[imsu]*$/, 'flags are i, m, s and u')
          .refine((flags) => new Set(flags).size === flags.length, 'each flag at most once')
          .optional(),
        agents: agentList,
        detail: detailName,
      })
      // A pattern valid alone may not be with its flags (`\a` is an error under `u`): checked
      // together, as the strategy compiles it, so that a bad pair stops the start, not every run.
      .superRefine(({ pattern, flags }, context) => {
        if (flags === undefined || !compiles(pattern)) return;
        try {
          new RegExp(pattern, flags);
        } catch (error) {
          if (new Set(flags).size !== flags.length || !/^[imsu]*$/.test(flags)) return;
          context.addIssue({
            code: 'custom',
            path: ['pattern'],
            message: `not a valid regular expression with flags "${flags}": ${(error as Error).message}`,
          });
        }
      }),
    z.strictObject({
      type: z.literal('llm-judge'),
      model: ModelSpec.optional(),
      instructions: z.string().max(20_000).optional(),
      agents: agentList,
      historyLimit: positiveInt.optional(),
      maxRetries: z.int().min(0).max(10).optional(),
      maxOutputTokens: positiveInt.optional(),
    }),
    z
      .strictObject({
        type: z.literal('token-budget'),
        maxTotalTokens: positiveInt.optional(),
        maxInputTokens: positiveInt.optional(),
        maxOutputTokens: positiveInt.optional(),
      })
      .refine(
        (value) =>
          value.maxTotalTokens !== undefined ||
          value.maxInputTokens !== undefined ||
          value.maxOutputTokens !== undefined,
        'give maxTotalTokens, maxInputTokens or maxOutputTokens',
      ),
    z.strictObject({ type: z.literal('timeout'), timeoutMs: positiveInt }),
    z.strictObject({ type: z.enum(['any', 'all']), of: z.array(TerminationSpec).min(1) }),
  ]),
);

export const AgentDefinition = z.strictObject({
  name: name('agent'),
  description: z.string().max(2000).optional(),
  instructions: z.string().min(1).max(100_000),
  /** @default the team's model, else the file's, else the environment's default */
  model: ModelSpec.optional(),
  maxOutputTokens: positiveInt.optional(),
  /** Names of tools the application registered (tools are code, so a file can only name them). */
  tools: z.array(z.string().min(1).max(64)).optional(),
  /** Tool rounds per turn. @default 5 */
  maxToolRounds: z.int().min(0).max(50).optional(),
  /** Tools of the file's `mcpServers` this agent may call, by server: `{ files: [read_file] }`. */
  mcpTools: z.record(z.string(), z.array(z.string().min(1).max(128)).min(1).max(256)).optional(),
});
export type AgentDefinition = z.infer<typeof AgentDefinition>;

export const TeamDefinition = z.strictObject({
  description: z.string().max(2000).optional(),
  /** Default model of this team's agents, selector and judge. */
  model: ModelSpec.optional(),
  agents: z.array(AgentDefinition).min(1),
  /** @default { type: sequential } */
  selection: SelectionSpec.optional(),
  /** @default none: only the iteration cap ends a run */
  termination: TerminationSpec.optional(),
  /** Hard cap on agent turns per run. @default CHORUS_MAX_ITERATIONS */
  maxIterations: z.int().min(1).max(1000).optional(),
  /** Wall-clock limit of a run, enforced mid-message. */
  timeoutMs: positiveInt.optional(),
  /** A post during a run: queue (default), reject (`busy`) or interrupt (supersede the run). */
  multitask: z.enum(['queue', 'reject', 'interrupt']).optional(),
  /** Posts waiting per thread. @default CHORUS_QUEUE_MAX */
  queueMax: z.int().min(0).max(1000).optional(),
});
export type TeamDefinition = z.infer<typeof TeamDefinition>;

export const TeamFile = z.strictObject({
  version: z.literal(1).optional(),
  /** The team a thread gets when create-thread names none. @default the first team */
  default: z.string().optional(),
  /** Default model of every team in the file. */
  model: ModelSpec.optional(),
  /** MCP servers whose tools agents may call (`mcpTools`), one shared connection each. */
  mcpServers: z.record(McpServerName, McpServerSpec).optional(),
  teams: z
    .record(name('team'), TeamDefinition)
    .refine((teams) => Object.keys(teams).length > 0, 'define at least one team'),
});
export type TeamFile = z.infer<typeof TeamFile>;

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false; // the refinement reports it with the field's path and line
  }
}

// ---------------------------------------------------------------------------------------------
// Errors with positions.

export type FieldPath = readonly (string | number)[];

export interface TeamFileIssue {
  /** `teams.review.agents[1].model.provider` ('' for the whole file). */
  path: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
}

export class TeamFileError extends Error {
  readonly file: string;
  readonly issues: readonly TeamFileIssue[];

  constructor(file: string, issues: readonly TeamFileIssue[]) {
    const lines = issues.map((issue) => `  ${formatIssue(issue)}`);
    super(`invalid team file ${file}:\n${lines.join('\n')}`);
    this.name = 'TeamFileError';
    this.file = file;
    this.issues = issues;
  }
}

function formatIssue(issue: TeamFileIssue): string {
  const where =
    issue.line === undefined
      ? ''
      : ` (line ${issue.line}${issue.column === undefined ? '' : `, column ${issue.column}`})`;
  return `${issue.path || '(file)'}${where}: ${issue.message}`;
}

export function formatPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

export interface LoadedTeamFile {
  file: TeamFile;
  /** Where a field (its value, or its key) is in the source (1-based line and column). */
  locate(path: FieldPath, at?: 'value' | 'key'): { line: number; column: number } | undefined;
  /** An issue for `path`, with its position. */
  issue(path: FieldPath, message: string, at?: 'value' | 'key'): TeamFileIssue;
  fileName: string;
}

export interface ParseTeamFileOptions {
  /** For messages, and to tell JSON from YAML by extension. @default '<team file>' */
  fileName?: string | undefined;
  format?: 'yaml' | 'json' | undefined;
  /** When given, every `apiKeyEnv` must name a variable set here. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** The tools the application registered; when given, every name an agent lists must be one. */
  tools?: readonly string[] | undefined;
}

/** Keys refused anywhere in a team file: secrets go into the environment. */
const SECRET_KEY =
  /^(api[_-]?key|api[_-]?token|secret|client[_-]?secret|password|passwd|token|access[_-]?token|auth[_-]?token|authorization|bearer|credentials?)$/i;

/** Parses and validates a team file's text; throws TeamFileError listing every problem. */
export function parseTeamFile(text: string, options: ParseTeamFileOptions = {}): LoadedTeamFile {
  const fileName = options.fileName ?? '<team file>';
  const format = options.format ?? detectFormat(fileName, text);
  const lineCounter = new LineCounter();

  if (format === 'json') {
    try {
      JSON.parse(text);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const position = /\(line (\d+) column (\d+)\)/.exec(message);
      throw new TeamFileError(fileName, [
        {
          path: '',
          line: position ? Number(position[1]) : undefined,
          column: position ? Number(position[2]) : undefined,
          message: `not valid JSON: ${message.replace(/\s*\(line \d+ column \d+\)/, '')}`,
        },
      ]);
    }
  }
  // JSON is YAML too: one parser gives both formats their node positions.
  const document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (document.errors.length > 0) {
    throw new TeamFileError(
      fileName,
      document.errors.map((error) => ({
        path: '',
        line: error.linePos?.[0].line,
        column: error.linePos?.[0].col,
        message: `not valid ${format === 'json' ? 'JSON' : 'YAML'}: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }

  const locate = (path: FieldPath, at: 'value' | 'key' = 'value') =>
    locateNode(document, lineCounter, path, at);
  const issue = (path: FieldPath, message: string, at: 'value' | 'key' = 'value'): TeamFileIssue => {
    const position = locate(path, at);
    return { path: formatPath(path), line: position?.line, column: position?.column, message };
  };

  const value: unknown = document.toJS();
  const issues: TeamFileIssue[] = [];
  for (const { path, reference } of findSecretKeys(value)) {
    issues.push(
      issue(
        path,
        reference
          ? `secrets do not belong in a team file: write "${String(path.at(-1))}" as a reference to an environment variable, e.g. "Bearer \${GITHUB_TOKEN}", and set that variable where Chorus runs`
          : `secrets do not belong in a team file: remove "${String(path.at(-1))}", put the key in an environment variable and name that variable in apiKeyEnv`,
        'key',
      ),
    );
  }
  if (value === null || value === undefined) {
    throw new TeamFileError(fileName, [
      { path: '', line: 1, column: 1, message: 'the file is empty; it needs a `teams` map' },
    ]);
  }

  const parsed = TeamFile.safeParse(value);
  if (!parsed.success) {
    for (const zodIssue of parsed.error.issues) {
      if (zodIssue.code === 'unrecognized_keys') {
        for (const key of zodIssue.keys) {
          if (SECRET_KEY.test(key)) continue; // reported above, with the hint
          issues.push(issue([...zodIssue.path.map(segment), key], `unknown field "${key}"`, 'key'));
        }
        continue;
      }
      if (zodIssue.code === 'invalid_key') {
        // A record key (a team or MCP server name): the key's own rule says what is wrong.
        const reason = zodIssue.issues[0]?.message ?? zodIssue.message;
        issues.push(issue(zodIssue.path.map(segment), `bad name: ${reason}`, 'key'));
        continue;
      }
      issues.push(issue(zodIssue.path.map(segment), zodIssue.message));
    }
    throw new TeamFileError(fileName, byPosition(issues));
  }
  if (issues.length > 0) throw new TeamFileError(fileName, byPosition(issues));

  const loaded: LoadedTeamFile = { file: parsed.data, locate, issue, fileName };
  const crossIssues = checkReferences(loaded, options.env, options.tools);
  if (crossIssues.length > 0) throw new TeamFileError(fileName, byPosition(crossIssues));
  return loaded;
}

/** Reads and parses a team file (see parseTeamFile). */
export async function loadTeamFile(
  path: string,
  options: Omit<ParseTeamFileOptions, 'fileName'> = {},
): Promise<LoadedTeamFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TeamFileError(path, [
      { path: '', line: undefined, column: undefined, message: `cannot read the file: ${reason}` },
    ]);
  }
  return parseTeamFile(text, { ...options, fileName: path });
}

/** Issues in the order of the file (those without a line last, in their order). */
function byPosition(issues: readonly TeamFileIssue[]): TeamFileIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) ||
        (a.issue.column ?? 0) - (b.issue.column ?? 0) ||
        a.index - b.index,
    )
    .map(({ issue }) => issue);
}

function detectFormat(fileName: string, text: string): 'yaml' | 'json' {
  const extension = extname(fileName).toLowerCase();
  if (extension === '.json') return 'json';
  if (extension === '.yaml' || extension === '.yml') return 'yaml';
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

function segment(value: PropertyKey): string | number {
  return typeof value === 'number' ? value : String(value);
}

/**
 * Keys that look like secrets, anywhere in the value. The `env` and `headers` of an MCP server
 * are where secrets must be named: there a value that refers to a variable (`${NAME}`) is fine,
 * and a literal one under a secret-like name is refused with a hint to write a reference.
 */
function findSecretKeys(
  value: unknown,
  path: (string | number)[] = [],
): { path: (string | number)[]; reference: boolean }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => findSecretKeys(item, [...path, index]));
  if (typeof value !== 'object' || value === null) return [];
  if (isReferenceContainer(path)) {
    return Object.entries(value).flatMap(([key, child]) =>
      SECRET_LIKE_NAME.test(key) && !(typeof child === 'string' && referencedVariables(child).length > 0)
        ? [{ path: [...path, key], reference: true }]
        : [],
    );
  }
  return Object.entries(value).flatMap(([key, child]) =>
    SECRET_KEY.test(key)
      ? [{ path: [...path, key], reference: false }]
      : findSecretKeys(child, [...path, key]),
  );
}

/** Header and environment names that usually carry a secret. */
const SECRET_LIKE_NAME =
  /(authorization|api[_-]?key|token|secret|password|passwd|credential|cookie|private[_-]?key)/i;

/** `mcpServers.<name>.env` and `mcpServers.<name>.headers`. */
function isReferenceContainer(path: readonly (string | number)[]): boolean {
  return path.length === 3 && path[0] === 'mcpServers' && (path[2] === 'env' || path[2] === 'headers');
}

/**
 * The position of the deepest node on `path`: the key itself when the path ends at a key, the
 * enclosing map when the field is missing.
 */
function locateNode(
  document: Document,
  lineCounter: LineCounter,
  path: FieldPath,
  at: 'value' | 'key',
): { line: number; column: number } | undefined {
  let node: unknown = document.contents;
  let offset = rangeStart(node);
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(step),
      );
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
      continue;
    }
    if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step];
      if (item === undefined) break;
      node = item;
      offset = rangeStart(item) ?? offset;
      continue;
    }
    break;
  }
  // A value's own position is more precise than its key's, except for maps and lists (whose
  // first line is their first entry): there the key's line is where the reader looks.
  if (at === 'value' && node !== undefined && node !== null && !isMap(node) && !isSeq(node))
    offset = rangeStart(node) ?? offset;
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Partial<YamlNode> | null | undefined)?.range;
  return range ? range[0] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Checks across fields: agent names, references to agents, the default team, environment names.

function checkReferences(
  loaded: LoadedTeamFile,
  env: Readonly<Record<string, string | undefined>> | undefined,
  tools: readonly string[] | undefined,
): TeamFileIssue[] {
  const { file, issue } = loaded;
  const issues: TeamFileIssue[] = [];
  const teamNames = Object.keys(file.teams);
  if (file.default !== undefined && !teamNames.includes(file.default)) {
    issues.push(issue(['default'], `no team is named "${file.default}" (teams: ${teamNames.join(', ')})`));
  }
  const checkModel = (spec: ModelSpec | undefined, path: FieldPath) => {
    if (!spec || env === undefined || spec.provider === 'demo') return;
    const variable = spec.apiKeyEnv;
    if (variable !== undefined) {
      if (!env[variable]?.trim())
        issues.push(issue([...path, 'apiKeyEnv'], `the environment variable ${variable} is not set`));
      return;
    }
    const baseURL = spec.baseURL ?? (env['OPENAI_BASE_URL']?.trim() || 'https://api.openai.com/v1');
    if (isOpenAIHost(baseURL) && !env['OPENAI_API_KEY']?.trim()) {
      issues.push(
        issue(
          [...path, 'provider'],
          `${spec.provider} at ${baseURL} needs an API key: set OPENAI_API_KEY, or name another variable in apiKeyEnv`,
        ),
      );
    }
  };
  checkModel(file.model, ['model']);
  for (const [serverName, server] of Object.entries(file.mcpServers ?? {})) {
    if (env === undefined) break;
    for (const field of referenceFields(server)) {
      for (const variable of referencedVariables(field.value)) {
        if (!env[variable]?.trim())
          issues.push(
            issue(
              ['mcpServers', serverName, ...field.path],
              `the environment variable ${variable} is not set`,
            ),
          );
      }
    }
  }

  for (const [teamName, team] of Object.entries(file.teams)) {
    const base: FieldPath = ['teams', teamName];
    const agents = new Set<string>();
    team.agents.forEach((agent, index) => {
      if (agents.has(agent.name))
        issues.push(issue([...base, 'agents', index, 'name'], `agent "${agent.name}" is defined twice`));
      agents.add(agent.name);
      checkModel(agent.model, [...base, 'agents', index, 'model']);
      issues.push(...checkMcpTools(loaded, agent, [...base, 'agents', index]));
      if (tools === undefined) return;
      (agent.tools ?? []).forEach((toolName, toolIndex) => {
        if (!tools.includes(toolName)) {
          const known =
            tools.length === 0 ? 'no tools are registered' : `registered tools: ${tools.join(', ')}`;
          issues.push(
            issue(
              [...base, 'agents', index, 'tools', toolIndex],
              `no tool is named "${toolName}" (${known})`,
            ),
          );
        }
      });
    });
    checkModel(team.model, [...base, 'model']);
    const known = [...agents].join(', ');
    const checkAgent = (agentName: string, path: FieldPath) => {
      if (!agents.has(agentName))
        issues.push(issue(path, `no agent "${agentName}" in team "${teamName}" (agents: ${known})`));
    };
    const checkSelection = (spec: SelectionSpec | undefined, path: FieldPath) => {
      if (!spec) return;
      if (spec.type === 'sequential' && spec.initialAgent !== undefined)
        checkAgent(spec.initialAgent, [...path, 'initialAgent']);
      if (spec.type === 'mention' || spec.type === 'llm')
        checkSelection(spec.fallback, [...path, 'fallback']);
      if (spec.type === 'llm') checkModel(spec.model, [...path, 'model']);
    };
    const checkTermination = (spec: TerminationSpec | undefined, path: FieldPath) => {
      if (!spec) return;
      if (spec.type === 'any' || spec.type === 'all') {
        spec.of.forEach((member, index) => checkTermination(member, [...path, 'of', index]));
        return;
      }
      if ('agents' in spec && spec.agents)
        spec.agents.forEach((agentName, index) => checkAgent(agentName, [...path, 'agents', index]));
      if (spec.type === 'llm-judge') checkModel(spec.model, [...path, 'model']);
    };
    checkSelection(team.selection, [...base, 'selection']);
    checkTermination(team.termination, [...base, 'termination']);
  }
  return issues;
}

/** An agent's `mcpTools`: servers that exist, names the model accepts, no name given twice. */
function checkMcpTools(loaded: LoadedTeamFile, agent: AgentDefinition, path: FieldPath): TeamFileIssue[] {
  const { file, issue } = loaded;
  const issues: TeamFileIssue[] = [];
  const servers = Object.keys(file.mcpServers ?? {});
  const seen = new Map<string, string>((agent.tools ?? []).map((name) => [name, `the tool "${name}"`]));
  for (const [server, toolNames] of Object.entries(agent.mcpTools ?? {})) {
    if (!servers.includes(server)) {
      const known =
        servers.length === 0 ? 'the file defines no mcpServers' : `mcpServers: ${servers.join(', ')}`;
      issues.push(
        issue([...path, 'mcpTools', server], `no MCP server is named "${server}" (${known})`, 'key'),
      );
      continue;
    }
    toolNames.forEach((toolName, toolIndex) => {
      const where: FieldPath = [...path, 'mcpTools', server, toolIndex];
      const exposed = mcpToolName(server, toolName);
      if (!isModelToolName(exposed)) {
        issues.push(
          issue(
            where,
            `the model would see this tool as "${exposed}" (${exposed.length} characters); model tool names have at most 64: use a shorter server name`,
          ),
        );
        return;
      }
      const earlier = seen.get(exposed);
      if (earlier !== undefined) {
        issues.push(
          issue(where, `"${exposed}" is given to agent "${agent.name}" twice (also as ${earlier})`),
        );
        return;
      }
      seen.set(exposed, `"${toolName}" of "${server}"`);
    });
  }
  return issues;
}

function isOpenAIHost(baseURL: string): boolean {
  try {
    return new URL(baseURL).hostname.endsWith('openai.com');
  } catch {
    return false; // not a URL: the field's own validation reports it
  }
}
