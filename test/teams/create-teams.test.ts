// Which teams an instance gets: the demo team with no environment, the built-in roles on Chat
// Completions with only OPENAI_API_KEY, the teams of CHORUS_TEAM_FILE otherwise.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DemoModel } from '../../src/agents/demo-model.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { OpenAIResponsesModel } from '../../src/agents/openai-responses-model.ts';
import { defineTool } from '../../src/agents/tools.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { createTeamsFromConfig } from '../../src/teams/create-teams.ts';
import { TeamFileError } from '../../src/teams/team-file.ts';
import { createDemoTeam } from '../../src/teams/team.ts';
import { message, runChat, runEnd, speakers } from './support.ts';

const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/teams/${name}`, import.meta.url));

function config(env: Record<string, string> = {}) {
  return loadConfig({ PORT: '0', CHORUS_DEMO_TOKENS_PER_SECOND: '0', ...env });
}

describe('createTeamsFromConfig', () => {
  let directory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'chorus-teams-'));
  });

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('with no environment: the built-in demo team on the demo model', async () => {
    const teams = await createTeamsFromConfig(config(), silentLogger, { env: {} });
    expect(teams.names()).toEqual(['demo']);
    expect(teams.defaultTeam).toBe('demo');
    const demo = teams.get('demo')!;
    expect(demo.multitask).toBe('queue');
    const chat = demo.createGroupChat();
    expect(chat.agents.map((agent) => agent.name)).toEqual(['planner', 'writer', 'reviewer']);
    expect(chat.agents.every((agent) => agent.model instanceof DemoModel)).toBe(true);
    expect(chat.maxIterations).toBe(6);
    const events = await runChat(chat, [message('user', 'Plan a picnic')]);
    expect(speakers(events)).toEqual(['planner', 'writer', 'reviewer', 'planner', 'writer', 'reviewer']);
    expect(runEnd(events)).toMatchObject({ reason: 'terminated', detail: 'approval' });
  });

  it('createDemoTeam (what src/app.ts uses) runs the same definition', async () => {
    const fromConfig = (await createTeamsFromConfig(config(), silentLogger, { env: {} })).get('demo')!;
    const direct = createDemoTeam({ tokensPerSecond: 0, maxIterations: 6 });
    expect(direct.name).toBe('demo');
    const texts = async (chatEvents: Promise<Awaited<ReturnType<typeof runChat>>>) =>
      (await chatEvents).flatMap((event) =>
        event.type === 'message-end' ? [`${event.message.author}: ${event.message.text}`] : [],
      );
    const history = [message('user', 'Plan a picnic')];
    expect(await texts(runChat(direct.createGroupChat(), history))).toEqual(
      await texts(runChat(fromConfig.createGroupChat(), history)),
    );
  });

  it('with only OPENAI_API_KEY: the same roles on Chat Completions as the default team, and the demo team', async () => {
    const teams = await createTeamsFromConfig(
      config({
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
        CHORUS_MODEL: 'gpt-test',
      }),
      silentLogger,
      { env: {} },
    );
    expect(teams.names()).toEqual(['default', 'demo']);
    expect(teams.defaultTeam).toBe('default');
    const chat = teams.get('default')!.createGroupChat();
    expect(chat.agents.map((agent) => agent.name)).toEqual(['planner', 'writer', 'reviewer']);
    const model = chat.agents[0]!.model;
    expect(model).toBeInstanceOf(OpenAIChatModel);
    expect(model.id).toBe('openai-chat:gpt-test');
    expect((model as OpenAIChatModel).baseURL).toBe('http://127.0.0.1:9/v1');
    // One client for the three agents.
    expect(new Set(chat.agents.map((agent) => agent.model)).size).toBe(1);
    expect(teams.get('default')!.models()).toEqual([model]);
    expect(teams.get('demo')!.createGroupChat().agents[0]!.model).toBeInstanceOf(DemoModel);
  });

  it('with CHORUS_TEAM_FILE: the teams of the file, its default first', async () => {
    const teams = await createTeamsFromConfig(
      config({ CHORUS_TEAM_FILE: fixturePath('full.yaml') }),
      silentLogger,
      {
        env: { OPENAI_API_KEY: 'sk-test' },
      },
    );
    expect(teams.names()).toEqual(['review', 'support', 'local']);
    expect(teams.defaultTeam).toBe('review');
    expect(teams.get('support')!.createGroupChat().agents[0]!.model).toBeInstanceOf(OpenAIResponsesModel);
    expect(teams.get('local')!.multitask).toBe('reject');
    expect(teams.get('review')!.queueMax).toBe(8);
  });

  it('a JSON team file works the same way', async () => {
    const teams = await createTeamsFromConfig(
      config({ CHORUS_TEAM_FILE: fixturePath('minimal.json') }),
      silentLogger,
      { env: {} },
    );
    expect(teams.names()).toEqual(['solo']);
  });

  it('a bad team file stops start-up with the field path and line', async () => {
    const promise = createTeamsFromConfig(
      config({ CHORUS_TEAM_FILE: fixturePath('bad.yaml') }),
      silentLogger,
      { env: {} },
    );
    await expect(promise).rejects.toBeInstanceOf(TeamFileError);
    await expect(promise).rejects.toThrow(
      /teams\.review\.agents\[1\]\.model\.provider \(line 10, column 21\)/,
    );
  });

  it('a key the file names but the environment lacks stops start-up with the line', async () => {
    await expect(
      createTeamsFromConfig(config({ CHORUS_TEAM_FILE: fixturePath('full.yaml') }), silentLogger, {
        env: {},
      }),
    ).rejects.toThrow(
      /^invalid team file .*full\.yaml:\n {2}model\.apiKeyEnv \(line 10, column 14\): the environment variable OPENAI_API_KEY is not set/,
    );
  });

  it('a missing file says so', async () => {
    await expect(
      createTeamsFromConfig(config({ CHORUS_TEAM_FILE: join(directory, 'nope.yaml') }), silentLogger, {
        env: {},
      }),
    ).rejects.toThrow(/cannot read the file/);
  });

  it('agents get the tools the application registered, by name', async () => {
    const file = join(directory, 'tools.yaml');
    await writeFile(
      file,
      [
        'teams:',
        '  helpers:',
        '    agents:',
        '      - name: helper',
        '        instructions: Help.',
        '        tools: [get_time]',
        '',
      ].join('\n'),
    );
    const getTime = defineTool({
      name: 'get_time',
      description: 'The time',
      parameters: z.object({}),
      execute: () => '12:00',
    });
    const teams = await createTeamsFromConfig(config({ CHORUS_TEAM_FILE: file }), silentLogger, {
      env: {},
      tools: [getTime],
    });
    expect(teams.get('helpers')!.createGroupChat().agents[0]!.tools).toEqual([getTime]);
    await expect(
      createTeamsFromConfig(config({ CHORUS_TEAM_FILE: file }), silentLogger, { env: {} }),
    ).rejects.toThrow(
      /teams\.helpers\.agents\[0\]\.tools\[0\] \(line 6, column 17\): no tool is named "get_time" \(no tools are registered\)/,
    );
  });
});
