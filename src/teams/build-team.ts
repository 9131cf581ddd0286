// Team definitions (from a team file, or the built-in ones) → Teams. Model clients are made once
// per distinct model spec and shared by every run (and every team built together); so are the
// connections to the file's MCP servers (one per server, opened on first use, closed by
// `close()`). Agents and strategies are made fresh for each run, so no run sees another's
// strategy state.
import { Agent } from '../agents/agent.ts';
import { GroupChat, type SelectionStrategy, type TerminationStrategy } from '../agents/group-chat.ts';
import type { ModelClient } from '../agents/model-client.ts';
import type { Tool } from '../agents/tools.ts';
import type { Environment } from '../agents/mcp/environment-references.ts';
import { McpServerPool } from '../agents/mcp/mcp-server-pool.ts';
import { McpToolsModel } from '../agents/mcp/mcp-tools-model.ts';
import { McpToolset } from '../agents/mcp/mcp-tools.ts';
import type { Logger } from '../log.ts';
import type { ModelSpec } from '../agents/model-factory.ts';
import { LlmSelection } from '../agents/selection/llm-selector.ts';
import { MentionSelection } from '../agents/selection/mention.ts';
import { SequentialSelection } from '../agents/selection/sequential.ts';
import { AllTermination, AnyTermination } from '../agents/termination/combination.ts';
import { LlmJudgeTermination } from '../agents/termination/llm-judge.ts';
import { MaxIterationsTermination } from '../agents/termination/max-iterations.ts';
import { RegexTermination } from '../agents/termination/regex.ts';
import { TextMentionTermination } from '../agents/termination/text-mention.ts';
import { TimeoutTermination } from '../agents/termination/timeout.ts';
import { TokenBudgetTermination } from '../agents/termination/token-budget.ts';
import type { SelectionSpec, TeamDefinition, TeamFile, TerminationSpec } from './team-file.ts';
import type { Team } from './team.ts';

export interface TeamBuildOptions {
  /** Makes a model client for a spec (the model factory, bound to the environment). */
  createModel: (spec: ModelSpec) => ModelClient;
  /** The model of agents, selectors and judges whose definitions (and team, and file) name none. */
  defaultModel: ModelSpec;
  /** The iteration cap of teams that set no `maxIterations` (CHORUS_MAX_ITERATIONS). */
  maxIterations: number;
  /** Tools agents may name, by name (registered by the application). */
  tools?: ReadonlyMap<string, Tool> | undefined;
  /** Where `${NAME}` references of MCP server definitions are read. @default process.env */
  environment?: Environment | undefined;
  /** For MCP server connections. @default silent */
  logger?: Logger | undefined;
}

/**
 * One model client per distinct spec. Keys are the spec's JSON with sorted keys, so
 * `{provider, model}` and `{model, provider}` share a client (and its circuit breaker).
 */
export class ModelPool {
  private readonly clients = new Map<string, ModelClient>();
  private readonly create: (spec: ModelSpec) => ModelClient;

  constructor(create: (spec: ModelSpec) => ModelClient) {
    this.create = create;
  }

  get(spec: ModelSpec): ModelClient {
    const key = stableJson(spec);
    let client = this.clients.get(key);
    if (!client) {
      client = this.create(spec);
      this.clients.set(key, client);
    }
    return client;
  }

  all(): ModelClient[] {
    return [...this.clients.values()];
  }
}

/** Builds one team. Model clients are created now (so a missing key fails at start-up). */
export function buildTeam(
  name: string,
  definition: TeamDefinition,
  options: TeamBuildOptions & { pool?: ModelPool; fileModel?: ModelSpec; mcpServers?: McpServerPool },
): Team {
  const pool = options.pool ?? new ModelPool(options.createModel);
  const teamModel = definition.model ?? options.fileModel ?? options.defaultModel;
  const agentModels = definition.agents.map((agent) => pool.get(agent.model ?? teamModel));
  const agentToolsets = definition.agents.map((agent) => {
    if (agent.mcpTools === undefined) return undefined;
    if (!options.mcpServers)
      throw new Error(`team "${name}", agent "${agent.name}": mcpTools need the file's mcpServers`);
    return new McpToolset(options.mcpServers, agent.mcpTools, {
      ...(options.logger ? { logger: options.logger } : {}),
    });
  });
  const agentTools = definition.agents.map((agent, index) => [
    ...(agent.tools ?? []).map((toolName) => {
      const tool = options.tools?.get(toolName);
      if (!tool) throw new Error(`team "${name}", agent "${agent.name}": no tool is named "${toolName}"`);
      return tool;
    }),
    ...(agentToolsets[index]?.tools() ?? []),
  ]);
  // An agent with MCP tools asks its model through a wrapper that puts their current schemas in.
  const agentClients = agentModels.map((model, index) => {
    const toolset = agentToolsets[index];
    return toolset ? new McpToolsModel(model, toolset) : model;
  });
  const used = new Set<ModelClient>(agentModels);
  const modelFor = (spec: ModelSpec | undefined): ModelClient => {
    const client = pool.get(spec ?? teamModel);
    used.add(client);
    return client;
  };
  const makeSelection = (spec: SelectionSpec | undefined): (() => SelectionStrategy) =>
    selectionFactory(spec, modelFor);
  const makeTermination = terminationFactory(definition.termination, modelFor);
  const newSelection = makeSelection(definition.selection);
  const maxIterations = definition.maxIterations ?? options.maxIterations;

  return {
    name,
    description: definition.description ?? '',
    agentNames: definition.agents.map((agent) => agent.name),
    multitask: definition.multitask ?? 'queue',
    ...(definition.queueMax === undefined ? {} : { queueMax: definition.queueMax }),
    models: () => [...used],
    createGroupChat: () =>
      new GroupChat({
        agents: definition.agents.map(
          (agent, index) =>
            new Agent({
              name: agent.name,
              ...(agent.description === undefined ? {} : { description: agent.description }),
              instructions: agent.instructions,
              model: agentClients[index]!,
              ...(agent.maxOutputTokens === undefined ? {} : { maxOutputTokens: agent.maxOutputTokens }),
              ...(agentTools[index]!.length === 0 ? {} : { tools: agentTools[index] }),
              ...(agent.maxToolRounds === undefined ? {} : { maxToolRounds: agent.maxToolRounds }),
            }),
        ),
        selection: newSelection(),
        termination: makeTermination(),
        maxIterations,
        ...(definition.timeoutMs === undefined ? {} : { timeoutMs: definition.timeoutMs }),
      }),
  };
}

export interface BuiltTeams {
  teams: Team[];
  defaultTeam: string | undefined;
  /** Closes what the teams share: the MCP servers' connections (their processes stop). */
  close(): Promise<void>;
}

/** Builds every team of a team file; the default is the file's `default`, else its first team. */
export function buildTeams(file: TeamFile, options: TeamBuildOptions): BuiltTeams {
  const pool = new ModelPool(options.createModel);
  const mcpServers = new McpServerPool(file.mcpServers ?? {}, {
    ...(options.environment ? { environment: options.environment } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const teams = Object.entries(file.teams).map(([name, definition]) =>
    buildTeam(name, definition, { ...options, pool, fileModel: file.model, mcpServers }),
  );
  return { teams, defaultTeam: file.default, close: () => mcpServers.close() };
}

// ---------------------------------------------------------------------------------------------
// Strategies from specs. Each factory checks its spec once and makes fresh strategies per run.

type ModelFor = (spec: ModelSpec | undefined) => ModelClient;

export function selectionFactory(
  spec: SelectionSpec | undefined,
  modelFor: ModelFor,
): () => SelectionStrategy {
  if (spec === undefined) return () => new SequentialSelection();
  switch (spec.type) {
    case 'sequential':
      return () => new SequentialSelection({ initialAgent: spec.initialAgent });
    case 'mention': {
      const fallback = selectionFactory(spec.fallback, modelFor);
      return () =>
        new MentionSelection({
          fallback: fallback(),
          allowSelfMention: spec.allowSelfMention,
        });
    }
    case 'llm': {
      const model = modelFor(spec.model);
      const fallback = selectionFactory(spec.fallback, modelFor);
      return () =>
        new LlmSelection({
          model,
          fallback: fallback(),
          instructions: spec.instructions,
          maxRetries: spec.maxRetries,
          historyLimit: spec.historyLimit,
          allowRepeatedSpeaker: spec.allowRepeatedSpeaker,
          maxOutputTokens: spec.maxOutputTokens,
        });
    }
    default:
      return spec satisfies never;
  }
}

/** A team without a termination rule: only the iteration cap (or its timeout) ends a run. */
const noTermination: TerminationStrategy = {
  shouldTerminate: () => ({
    terminate: false,
    detail: 'none',
    explanation: 'the team has no termination rule; the iteration cap ends the run',
  }),
};

export function terminationFactory(
  spec: TerminationSpec | undefined,
  modelFor: ModelFor,
): () => TerminationStrategy {
  if (spec === undefined) return () => noTermination;
  switch (spec.type) {
    case 'max-iterations':
      return () => new MaxIterationsTermination({ maxIterations: spec.maxIterations });
    case 'text-mention':
      return () =>
        new TextMentionTermination({
          text: spec.text,
          agents: spec.agents,
          ignoreCase: spec.ignoreCase,
          detail: spec.detail,
        });
    case 'regex':
      return () =>
        new RegexTermination({
          pattern: spec.pattern,
          flags: spec.flags,
          agents: spec.agents,
          detail: spec.detail,
        });
    case 'llm-judge': {
      const model = modelFor(spec.model);
      return () =>
        new LlmJudgeTermination({
          model,
          instructions: spec.instructions,
          agents: spec.agents,
          historyLimit: spec.historyLimit,
          maxRetries: spec.maxRetries,
          maxOutputTokens: spec.maxOutputTokens,
        });
    }
    case 'token-budget':
      return () =>
        new TokenBudgetTermination({
          maxTotalTokens: spec.maxTotalTokens,
          maxInputTokens: spec.maxInputTokens,
          maxOutputTokens: spec.maxOutputTokens,
        });
    case 'timeout':
      return () => new TimeoutTermination({ timeoutMs: spec.timeoutMs });
    case 'any':
    case 'all': {
      const members = spec.of.map((member) => terminationFactory(member, modelFor));
      const Combination = spec.type === 'any' ? AnyTermination : AllTermination;
      return () => new Combination(members.map((member) => member()));
    }
    default:
      return spec satisfies never;
  }
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${stableJson(field)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
