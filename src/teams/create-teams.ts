// Chooses the teams from the configuration: the built-in demo team by default.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { createDemoTeam, TeamRegistry } from './team.ts';

export async function createTeamsFromConfig(config: Config, logger: Logger): Promise<TeamRegistry> {
  logger.info({ tokensPerSecond: config.demoTokensPerSecond }, 'team: built-in demo team on the local demo model');
  return new TeamRegistry([createDemoTeam({ tokensPerSecond: config.demoTokensPerSecond, maxIterations: config.maxIterations })]);
}
