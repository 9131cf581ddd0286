// Chooses the teams from the configuration:
// - CHORUS_TEAM_FILE set: the teams of that file (YAML or JSON, see docs/teams.md);
// - else OPENAI_API_KEY set: the built-in roles on Chat Completions (`default`, CHORUS_MODEL at
//   OPENAI_BASE_URL), plus the demo team;
// - else the built-in demo team on the local demo model.
import type { Config } from '../config.ts';
import { Semaphore } from '../agents/concurrency.ts';
import { createModelClient, type ModelFactoryShared, type ModelSpec } from '../agents/model-factory.ts';
import { InMemoryConversationState } from '../agents/remote-conversation-state.ts';
import type { Tool } from '../agents/tools.ts';
import type { Logger } from '../log.ts';
import { buildTeam, buildTeams, ModelPool, type TeamBuildOptions } from './build-team.ts';
import { loadTeamFile } from './team-file.ts';
import { builtInTeamDefinition, DEMO_TEAM, DEMO_TEAM_NAME, OPENAI_TEAM_NAME, TeamRegistry } from './team.ts';

export interface CreateTeamsOptions {
  /** Where `apiKeyEnv` variables are read. @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** What the instance's model clients share (Responses state, concurrency, breakers). */
  shared?: Partial<ModelFactoryShared> | undefined;
  /** Tools that team-file agents may name (`tools: [get_weather]`). */
  tools?: readonly Tool[] | undefined;
}

export async function createTeamsFromConfig(
  config: Config,
  logger: Logger,
  options: CreateTeamsOptions = {},
): Promise<TeamRegistry> {
  const env = environment(config, options.env ?? process.env);
  const shared: ModelFactoryShared = {
    demoTokensPerSecond: config.demoTokensPerSecond,
    conversationState: new InMemoryConversationState(),
    concurrency: new Semaphore(Infinity),
    ...options.shared,
  };
  const build: TeamBuildOptions = {
    createModel: (spec) => createModelClient(spec, env, shared),
    defaultModel: defaultModelSpec(config),
    maxIterations: config.maxIterations,
    tools: new Map((options.tools ?? []).map((tool) => [tool.name, tool])),
    environment: env,
    logger,
  };

  if (config.teamFile !== undefined) {
    const loaded = await loadTeamFile(config.teamFile, { env, tools: [...(build.tools?.keys() ?? [])] });
    const { teams, defaultTeam, close } = buildTeams(loaded.file, build);
    const registry = new TeamRegistry(teams, defaultTeam, { close });
    logger.info(
      {
        file: config.teamFile,
        teams: registry.names(),
        defaultTeam: registry.defaultTeam,
        mcpServers: Object.keys(loaded.file.mcpServers ?? {}),
      },
      'teams: loaded from the team file',
    );
    return registry;
  }
  if (config.openai.apiKey !== undefined) {
    const pool = new ModelPool(build.createModel);
    const openai = buildTeam(
      OPENAI_TEAM_NAME,
      builtInTeamDefinition(`Planner, writer and reviewer on ${config.openai.model} (Chat Completions)`),
      { ...build, pool },
    );
    const demo = buildTeam(DEMO_TEAM_NAME, DEMO_TEAM, { ...build, defaultModel: { provider: 'demo' }, pool });
    logger.info(
      {
        model: config.openai.model,
        baseURL: config.openai.baseURL ?? 'https://api.openai.com/v1',
        teams: [OPENAI_TEAM_NAME, DEMO_TEAM_NAME],
      },
      'teams: built-in team on OpenAI Chat Completions (default) and the demo team',
    );
    return new TeamRegistry([openai, demo], OPENAI_TEAM_NAME);
  }
  logger.info(
    { tokensPerSecond: config.demoTokensPerSecond },
    'team: built-in demo team on the local demo model',
  );
  return new TeamRegistry([buildTeam(DEMO_TEAM_NAME, DEMO_TEAM, build)]);
}

/** The model of agents that name none: Chat Completions when a key is configured, else the demo model. */
export function defaultModelSpec(config: Config): ModelSpec {
  if (config.openai.apiKey === undefined) return { provider: 'demo' };
  return {
    provider: 'openai-chat',
    model: config.openai.model,
    ...(config.openai.baseURL === undefined ? {} : { baseURL: config.openai.baseURL }),
  };
}

/** The environment the model factory reads, with what the config parsed from it taking precedence. */
function environment(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
): Readonly<Record<string, string | undefined>> {
  return {
    ...env,
    ...(config.openai.apiKey === undefined ? {} : { OPENAI_API_KEY: config.openai.apiKey }),
    ...(config.openai.baseURL === undefined ? {} : { OPENAI_BASE_URL: config.openai.baseURL }),
    CHORUS_MODEL: config.openai.model,
  };
}
