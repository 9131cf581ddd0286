// A team: agents + selection + termination + the policy for a post during a run. The server asks
// a team for a fresh GroupChat per run; team files (team-file.ts) and the built-in teams (below)
// are both definitions that build-team.ts turns into Teams.
import type { GroupChat } from '../agents/group-chat.ts';
import { DemoModel } from '../agents/demo-model.ts';
import type { ModelClient } from '../agents/model-client.ts';
import type { ModelSpec } from '../agents/model-factory.ts';
import { buildTeam } from './build-team.ts';
import type { AgentDefinition, TeamDefinition } from './team-file.ts';

/**
 * What happens to a post while a run is active (documented in protocol.md and docs/teams.md):
 * `queue` it for the next run (default), `reject` it with `busy`, or `interrupt` the run (it ends
 * `cancelled` / `superseded`) and run the new post.
 */
export type MultitaskPolicy = 'queue' | 'reject' | 'interrupt';

export interface Team {
  name: string;
  description: string;
  agentNames: readonly string[];
  multitask: MultitaskPolicy;
  /** Posts that may wait per thread; undefined: the instance's CHORUS_QUEUE_MAX. */
  queueMax?: number | undefined;
  createGroupChat(): GroupChat;
  /** Model clients the team uses (to delete remote conversation state with a thread). */
  models(): readonly ModelClient[];
}

export interface TeamRegistryOptions {
  /** Releases what the teams share (their MCP server connections); called once by `close()`. */
  close?: (() => Promise<void>) | undefined;
}

export class TeamRegistry {
  private readonly teams = new Map<string, Team>();
  readonly defaultTeam: string;
  private readonly release: (() => Promise<void>) | undefined;
  private closing: Promise<void> | undefined;

  constructor(teams: readonly Team[], defaultTeam?: string, options: TeamRegistryOptions = {}) {
    this.release = options.close;
    if (teams.length === 0) throw new Error('at least one team is needed');
    for (const team of teams) {
      if (this.teams.has(team.name)) throw new Error(`team "${team.name}" is defined twice`);
      this.teams.set(team.name, team);
    }
    this.defaultTeam = defaultTeam ?? teams[0]!.name;
    if (!this.teams.has(this.defaultTeam))
      throw new Error(`default team "${this.defaultTeam}" is not defined`);
  }

  get(name: string): Team | undefined {
    return this.teams.get(name);
  }

  names(): string[] {
    return [...this.teams.keys()];
  }

  /** On shutdown, after the last run: closes the MCP server connections (stops their processes). */
  close(): Promise<void> {
    this.closing ??= this.release?.() ?? Promise.resolve();
    return this.closing;
  }
}

export const DEMO_TEAM_NAME = 'demo';
/** The team that runs on OpenAI when OPENAI_API_KEY is set and no team file is given. */
export const OPENAI_TEAM_NAME = 'default';

/** The built-in roles: a planner, a writer and a reviewer who approves with APPROVED. */
export const BUILT_IN_AGENTS: readonly AgentDefinition[] = [
  {
    name: 'planner',
    description: 'Breaks the request into steps.',
    instructions: 'You are the planner. Break the request into steps.',
  },
  {
    name: 'writer',
    description: 'Turns the plan into an answer.',
    instructions: 'You are the writer. Turn the plan into a concise answer.',
  },
  {
    name: 'reviewer',
    description: 'Checks the answer and approves it.',
    instructions: 'You are the reviewer. Check the answer; write APPROVED when it is good enough.',
  },
];

/**
 * The built-in team as a definition (what a team file would say): the three roles in turn until
 * the reviewer writes APPROVED or the iteration cap is reached. Agents name no model: the builder
 * gives them the default one (the demo model, or OpenAI when OPENAI_API_KEY is set).
 */
export function builtInTeamDefinition(description: string): TeamDefinition {
  return {
    description,
    agents: BUILT_IN_AGENTS.map((agent) => ({ ...agent })),
    selection: { type: 'sequential' },
    termination: { type: 'text-mention', text: 'APPROVED', agents: ['reviewer'] },
    multitask: 'queue',
  };
}

export const DEMO_TEAM: TeamDefinition = builtInTeamDefinition(
  'Demo team (planner, writer, reviewer) on the local demo model',
);

/**
 * The built-in demo team on the local demo model (the reviewer approves on its second review), or
 * on `model` when given.
 */
export function createDemoTeam(options: {
  tokensPerSecond: number;
  maxIterations: number;
  model?: ModelClient | undefined;
}): Team {
  const model = options.model ?? new DemoModel({ tokensPerSecond: options.tokensPerSecond });
  const demoSpec: ModelSpec = { provider: 'demo' };
  return buildTeam(DEMO_TEAM_NAME, DEMO_TEAM, {
    createModel: () => model,
    defaultModel: demoSpec,
    maxIterations: options.maxIterations,
  });
}
