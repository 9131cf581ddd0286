// Team files with MCP servers: the documented example parses and builds (without connecting to
// anything), and every bad MCP field is answered with its path and line.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildTeams } from '../../src/teams/build-team.ts';
import { parseTeamFile } from '../../src/teams/team-file.ts';
import { ScriptedModel } from './support.ts';
import { AGENT, fixture, issuesOf, lines } from './team-file-support.ts';

describe('a team file with MCP servers', () => {
  it('the documented example (docs/teams.md) parses: servers, and per agent the tools it may call', () => {
    const { file } = parseTeamFile(fixture('mcp.yaml'), {
      fileName: 'mcp.yaml',
      env: { GITHUB_TOKEN: 'ghp_test', OPENAI_API_KEY: 'sk-test' },
    });
    expect(file.mcpServers).toEqual({
      files: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv/shared'],
        env: { LOG_LEVEL: 'warn' },
        timeoutMs: 20_000,
      },
      github: {
        url: 'https://api.githubcopilot.com/mcp/',
        headers: { Authorization: 'Bearer ${GITHUB_TOKEN}' },
        connectTimeoutMs: 5000,
        maxOutputBytes: 32_768,
      },
    });
    expect(file.teams['triage']?.agents[0]?.mcpTools).toEqual({
      files: ['read_text_file', 'list_directory', 'search_files'],
      github: ['search_issues', 'get_issue'],
    });
  });

  it('is the example docs/teams.md shows', () => {
    const docs = readFileSync(new URL('../../docs/teams.md', import.meta.url), 'utf8');
    expect(docs).toContain(fixture('mcp.yaml').trim());
  });

  it('builds without starting or reaching any server; the agent gets <server>__<tool> tools', async () => {
    const { file } = parseTeamFile(fixture('mcp.yaml'), { fileName: 'mcp.yaml' });
    const built = buildTeams(file, {
      createModel: () => new ScriptedModel(['ok']),
      defaultModel: { provider: 'demo' },
      maxIterations: 4,
      environment: { GITHUB_TOKEN: 'ghp_test' },
    });
    const [researcher, writer] = built.teams[0]!.createGroupChat().agents;
    expect(researcher!.tools.map((tool) => tool.name)).toEqual([
      'files__read_text_file',
      'files__list_directory',
      'files__search_files',
      'github__search_issues',
      'github__get_issue',
    ]);
    expect(
      researcher!.tools.every((tool) => tool.timeoutMs === (tool.name.startsWith('files') ? 20_000 : 30_000)),
    ).toBe(true);
    expect(writer!.tools).toEqual([]);
    await built.close();
  });

  it('a ${NAME} reference in headers or env is not a secret in the file', () => {
    const { file } = parseTeamFile(
      lines(
        'mcpServers:',
        '  api:',
        '    url: http://127.0.0.1:9/mcp',
        '    headers:',
        '      X-Api-Key: ${API_KEY}',
        ...AGENT,
      ),
    );
    expect(file.mcpServers?.['api']?.headers).toEqual({ 'X-Api-Key': '${API_KEY}' });
  });
});

interface BadCase {
  name: string;
  text: string;
  env?: Record<string, string | undefined>;
  tools?: string[];
  expected: { path: string; line: number; message: RegExp }[];
}

const badCases: BadCase[] = [
  {
    name: 'both command and url, neither, and fields of the other kind',
    text: lines(
      'mcpServers:',
      '  both:',
      '    command: node',
      '    url: http://127.0.0.1:9/mcp',
      '  neither: {}',
      '  stdio:',
      '    command: node',
      '    headers: { X-Team: chorus }',
      '  remote:',
      '    url: http://127.0.0.1:9/mcp',
      '    args: [a]',
      ...AGENT,
    ),
    expected: [
      { path: 'mcpServers.both', line: 2, message: /give either `command` .* or `url`/ },
      { path: 'mcpServers.neither', line: 5, message: /give either `command`/ },
      { path: 'mcpServers.stdio.headers', line: 8, message: /`headers` are for a `url` server/ },
      { path: 'mcpServers.remote.args', line: 11, message: /`args` is for a `command` server/ },
    ],
  },
  {
    name: 'a bad url, an unknown field, a bad timeout',
    text: lines(
      'mcpServers:',
      '  remote:',
      '    url: ftp://example.com/mcp',
      '    transport: http',
      '    timeoutMs: 0',
      ...AGENT,
    ),
    expected: [
      { path: 'mcpServers.remote.url', line: 3, message: /an http:\/\/ or https:\/\/ URL/ },
      { path: 'mcpServers.remote.transport', line: 4, message: /unknown field "transport"/ },
      { path: 'mcpServers.remote.timeoutMs', line: 5, message: /too small/i },
    ],
  },
  {
    name: 'a server name that cannot prefix tool names',
    text: lines(
      'mcpServers:',
      '  my__files:',
      '    command: node',
      '  "fs.local":',
      '    command: node',
      ...AGENT,
    ),
    expected: [
      {
        path: 'mcpServers.my__files',
        line: 2,
        message: /bad name: MCP server names use letters, digits, _ and -/,
      },
      { path: 'mcpServers["fs.local"]', line: 4, message: /bad name: MCP server names/ },
    ],
  },
  {
    name: 'a literal secret in headers or env',
    text: lines(
      'mcpServers:',
      '  github:',
      '    url: https://api.githubcopilot.com/mcp/',
      '    headers:',
      '      Authorization: Bearer ghp_live_123',
      '  files:',
      '    command: node',
      '    env:',
      '      GITHUB_PERSONAL_ACCESS_TOKEN: ghp_live_456',
      '      LOG_LEVEL: warn',
      ...AGENT,
    ),
    expected: [
      {
        path: 'mcpServers.github.headers.Authorization',
        line: 5,
        message:
          /secrets do not belong in a team file: write "Authorization" as a reference to an environment variable, e.g. "Bearer \$\{GITHUB_TOKEN\}"/,
      },
      {
        path: 'mcpServers.files.env.GITHUB_PERSONAL_ACCESS_TOKEN',
        line: 9,
        message: /write "GITHUB_PERSONAL_ACCESS_TOKEN" as a reference/,
      },
    ],
  },
  {
    name: 'a referenced variable that is not set (checked when the environment is given)',
    text: lines(
      'mcpServers:',
      '  github:',
      '    url: https://api.githubcopilot.com/mcp/',
      '    headers:',
      '      Authorization: Bearer ${GITHUB_TOKEN}',
      '  files:',
      '    command: node',
      '    args: [server.js, "--root=${DATA_ROOT}"]',
      ...AGENT,
    ),
    env: {},
    expected: [
      {
        path: 'mcpServers.github.headers.Authorization',
        line: 5,
        message: /the environment variable GITHUB_TOKEN is not set/,
      },
      { path: 'mcpServers.files.args[1]', line: 8, message: /the environment variable DATA_ROOT is not set/ },
    ],
  },
  {
    name: 'mcpTools naming a server the file does not define',
    text: lines(
      'mcpServers:',
      '  files:',
      '    command: node',
      ...AGENT,
      '        mcpTools:',
      '          fs: [read]',
    ),
    expected: [
      {
        path: 'teams.review.agents[0].mcpTools.fs',
        line: 10,
        message: /no MCP server is named "fs" \(mcpServers: files\)/,
      },
    ],
  },
  {
    name: 'mcpTools without any mcpServers',
    text: lines(...AGENT, '        mcpTools:', '          files: [read]'),
    expected: [
      { path: 'teams.review.agents[0].mcpTools.files', line: 7, message: /the file defines no mcpServers/ },
    ],
  },
  {
    name: 'a tool name too long for the model, one given twice, one clashing with a local tool',
    text: lines(
      'mcpServers:',
      '  files:',
      '    command: node',
      ...AGENT,
      '        tools: [files__read]',
      '        mcpTools:',
      '          files:',
      `            - ${'r'.repeat(60)}`,
      '            - list.dir',
      '            - list_dir',
      '            - read',
    ),
    tools: ['files__read'],
    expected: [
      {
        path: 'teams.review.agents[0].mcpTools.files[0]',
        line: 12,
        message:
          /the model would see this tool as "files__r+" \(67 characters\); model tool names have at most 64/,
      },
      {
        path: 'teams.review.agents[0].mcpTools.files[2]',
        line: 14,
        message: /"files__list_dir" is given to agent "planner" twice \(also as "list.dir" of "files"\)/,
      },
      {
        path: 'teams.review.agents[0].mcpTools.files[3]',
        line: 15,
        message: /"files__read" is given to agent "planner" twice \(also as the tool "files__read"\)/,
      },
    ],
  },
  {
    name: 'an empty tool list (checked with the structure)',
    text: lines('mcpServers:', '  files:', '    command: node', ...AGENT, '        mcpTools: { files: [] }'),
    expected: [{ path: 'teams.review.agents[0].mcpTools.files', line: 9, message: /too small/i }],
  },
];

describe('bad MCP fields are reported with their line', () => {
  it.each(badCases)('$name', ({ text, env, tools, expected }) => {
    const issues = issuesOf(text, { env, tools });
    expect(issues.map((issue) => ({ path: issue.path, line: issue.line }))).toEqual(
      expected.map(({ path, line }) => ({ path, line })),
    );
    issues.forEach((issue, index) => expect(issue.message).toMatch(expected[index]!.message));
  });
});
