// A team: agents + selection + termination + the policy for a post during a run. The server asks
// a team for a fresh GroupChat per run; team files (team-file.ts) and the built-in demo team both
// produce Teams.
import { Agent } from '../agents/agent.ts';
import { DemoModel } from '../agents/demo-model.ts';
import { GroupChat, SequentialSelection, TextMentionTermination } from '../agents/group-chat.ts';
import type { ModelClient } from '../agents/model-client.ts';

/** What happens to a post while a run is active: documented in protocol.md. */
export type MultitaskPolicy = 'queue' | 'reject' | 'interrupt';

export interface Team {
  name: string;
  description: string;
  agentNames: readonly string[];
  multitask: MultitaskPolicy;
  createGroupChat(): GroupChat;
  /** Model clients the team uses (to delete remote conversation state with a thread). */
  models(): readonly ModelClient[];
}

export class TeamRegistry {
  private readonly teams = new Map<string, Team>();
  readonly defaultTeam: string;

  constructor(teams: readonly Team[], defaultTeam?: string) {
    if (teams.length === 0) throw new Error('at least one team is needed');
    for (const team of teams) {
      if (this.teams.has(team.name)) throw new Error(`team "${team.name}" is defined twice`);
      this.teams.set(team.name, team);
    }
    this.defaultTeam = defaultTeam ?? teams[0]!.name;
    if (!this.teams.has(this.defaultTeam)) throw new Error(`default team "${this.defaultTeam}" is not defined`);
  }

  get(name: string): Team | undefined {
    return this.teams.get(name);
  }

  names(): string[] {
    return [...this.teams.keys()];
  }
}

export const DEMO_TEAM_NAME = 'demo';

/**
 * The built-in demo team: a planner, a writer and a reviewer on the local demo model, in turn,
 * until the reviewer writes APPROVED (the demo reviewer approves on its second review) or the
 * iteration cap is reached.
 */
export function createDemoTeam(options: { tokensPerSecond: number; maxIterations: number; model?: ModelClient }): Team {
  const model = options.model ?? new DemoModel({ tokensPerSecond: options.tokensPerSecond });
  const definitions = [
    { name: 'planner', instructions: 'You are the planner. Break the request into steps.' },
    { name: 'writer', instructions: 'You are the writer. Turn the plan into a concise answer.' },
    {
      name: 'reviewer',
      instructions: 'You are the reviewer. Check the answer; write APPROVED when it is good enough.',
    },
  ];
  return {
    name: DEMO_TEAM_NAME,
    description: 'Demo team (planner, writer, reviewer) on the local demo model',
    agentNames: definitions.map((definition) => definition.name),
    multitask: 'queue',
    models: () => [model],
    createGroupChat: () =>
      new GroupChat({
        agents: definitions.map((definition) => new Agent({ ...definition, model })),
        selection: new SequentialSelection(),
        termination: new TextMentionTermination({ text: 'APPROVED', agents: ['reviewer'] }),
        maxIterations: options.maxIterations,
      }),
  };
}
