// MCP tools through a real Chorus instance: a team file (CHORUS_TEAM_FILE) names a stdio and a
// streamable-HTTP MCP server and the tools its agent may call; the loopback OpenAI-compatible
// server asks for a call of each. A viewer on another connection sees the tool-call frames and
// results, the stored message holds calls and results, and shutting the app down stops the
// server process.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { createTeamsFromConfig } from '../../src/teams/create-teams.ts';
import { startHttpMcpServer, type HttpMcpFixture } from '../fixtures/mcp/http-server.ts';
import { collectRun, post, subscribe, uniqueId } from '../gateway/thread-frames.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { connect, type FrameOf, type TestClient } from '../support/ws-client.ts';
import { chatAnswer } from '../teams/support.ts';
import { STDIO_SERVER, toolCallScript } from './mcp-support.ts';

describe('MCP tools in a Chorus instance', () => {
  let directory: string;
  let fake: FakeOpenAI;
  let http: HttpMcpFixture;
  let app: App;
  let viewer: TestClient;
  let participant: TestClient;
  let appClosed = false;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    http = await startHttpMcpServer();
    directory = await mkdtemp(join(tmpdir(), 'chorus-mcp-'));
    const teamFile = join(directory, 'teams.yaml');
    await writeFile(
      teamFile,
      [
        'mcpServers:',
        '  fx:',
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(STDIO_SERVER)}]`,
        '  remote:',
        `    url: ${http.url}`,
        '    headers:',
        '      Authorization: Bearer ${FIXTURE_TOKEN}',
        'teams:',
        '  tools:',
        '    maxIterations: 1',
        '    agents:',
        '      - name: helper',
        '        instructions: Use your tools.',
        `        model: { provider: openai-chat, model: m, baseURL: "${fake.baseURL}", apiKeyEnv: FAKE_KEY }`,
        '        mcpTools:',
        '          fx: [instance]',
        '          remote: [add]',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', CHORUS_TEAM_FILE: teamFile });
    const teams = await createTeamsFromConfig(config, silentLogger, {
      env: { FAKE_KEY: 'sk-fake', FIXTURE_TOKEN: 'token-e2e' },
    });
    app = await createApp({ config, teams });
    const port = await app.start();
    viewer = await connect(`ws://127.0.0.1:${port}/ws`, { hello: { user: 'viewer' } });
    participant = await connect(`ws://127.0.0.1:${port}/ws`, { hello: { user: 'ada' } });
  });

  afterAll(async () => {
    await viewer?.close();
    await participant?.close();
    if (!appClosed) await app?.shutdown(0);
    await http?.close();
    await fake?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('a viewer sees the MCP tool calls and results; the stored message holds them; shutdown stops the server', async () => {
    const threadId = uniqueId('mcp');
    await participant.request({ type: 'create-thread', threadId, team: 'tools' }, 'thread-created');
    await subscribe(viewer, threadId);
    fake.script(
      toolCallScript('fx__instance', '{}', 'call_instance'),
      toolCallScript('remote__add', '{"a": 20, "b": 22}', 'call_add'),
      chatAnswer('The answer is 42.'),
    );
    await post(participant, threadId, 'What is 20 + 22?');
    const runStart = await viewer.waitFor('run-start', (frame) => frame.threadId === threadId, 10_000);
    const frames = await collectRun(viewer, runStart.runId, 20_000);

    const deltas = frames.filter(
      (frame): frame is FrameOf<'message-delta'> =>
        frame.type === 'message-delta' && frame.threadId === threadId,
    );
    const callNames = deltas.flatMap((delta) => (delta.toolCall?.name ? [delta.toolCall.name] : []));
    expect(callNames).toEqual(['fx__instance', 'remote__add']);
    const addArguments = deltas
      .flatMap((delta) => (delta.toolCall?.toolCallId === 'call_add' ? [delta.toolCall.arguments ?? ''] : []))
      .join('');
    expect(addArguments).toBe('{"a": 20, "b": 22}');
    const results = deltas.flatMap((delta) => (delta.toolResult ? [delta.toolResult] : []));
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({ toolCallId: 'call_instance', name: 'fx__instance' });
    expect(results[0]!.output).toMatch(/^pid \d+$/);
    expect(results[0]!.isError).toBeUndefined();
    expect(results[1]).toEqual({ toolCallId: 'call_add', name: 'remote__add', output: '20 + 22 = 42' });

    const end = frames.find(
      (frame): frame is FrameOf<'message-end'> => frame.type === 'message-end' && frame.threadId === threadId,
    );
    expect(end?.message).toMatchObject({ author: 'helper', status: 'completed', text: 'The answer is 42.' });
    const expectedParts = [
      { type: 'tool-call', toolCallId: 'call_instance', name: 'fx__instance', arguments: '{}' },
      { type: 'tool-result', toolCallId: 'call_instance', name: 'fx__instance', output: results[0]!.output },
      { type: 'tool-call', toolCallId: 'call_add', name: 'remote__add', arguments: '{"a": 20, "b": 22}' },
      { type: 'tool-result', toolCallId: 'call_add', name: 'remote__add', output: '20 + 22 = 42' },
      { type: 'text', text: 'The answer is 42.' },
    ];
    expect(end?.message.parts).toEqual(expectedParts);

    // What history holds is what the viewer saw.
    const page = await viewer.request({ type: 'history', threadId }, 'history-page');
    const stored = page.items.map((item) => item.message).find((message) => message.author === 'helper');
    expect(stored?.parts).toEqual(expectedParts);

    // The model got the servers' schemas, and the HTTP server the expanded header.
    const [first] = await fake.waitForRequests(3);
    const offered = (first!.body as { tools: { function: { name: string; parameters: unknown } }[] }).tools;
    expect(offered.map((tool) => tool.function.name)).toEqual(['fx__instance', 'remote__add']);
    expect(offered[1]!.function.parameters).toMatchObject({ required: ['a', 'b'] });
    expect(http.requests.at(-1)?.authorization).toBe('Bearer token-e2e');

    // Shutting the app down closes the team registry, which stops the stdio server.
    const pid = Number(results[0]!.output.slice('pid '.length));
    expect(() => process.kill(pid, 0)).not.toThrow();
    await app.shutdown(0);
    appClosed = true;
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
