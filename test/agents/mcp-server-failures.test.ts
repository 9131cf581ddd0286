// MCP servers that are not well: one whose command does not exist, one that never answers the
// handshake, one whose process blocks (restarted once it stops answering pings, before the next
// call), a streamable-HTTP one that goes away mid-call (noticed by a probe) — each a tool
// error and a spec that says so, never a thrown turn. And secrets: `${NAME}` in headers and env
// reach the server, are never logged, and an unset one is a tool error.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Agent } from '../../src/agents/agent.ts';
import { McpServerPool } from '../../src/agents/mcp/mcp-server-pool.ts';
import { McpToolsModel } from '../../src/agents/mcp/mcp-tools-model.ts';
import { McpToolset } from '../../src/agents/mcp/mcp-tools.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { startHttpMcpServer, type HttpMcpFixture } from '../fixtures/mcp/http-server.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { chatAnswer } from '../teams/support.ts';
import { eventually, recordingLogger, stdioServerSpec, toolCallScript } from './mcp-support.ts';
import { drain, userMessage } from './support.ts';

const pools: McpServerPool[] = [];
function pool(...args: ConstructorParameters<typeof McpServerPool>): McpServerPool {
  const created = new McpServerPool(...args);
  pools.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((each) => each.close()));
});

const signal = () => new AbortController().signal;

describe('a server that cannot be used', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await FakeOpenAI.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  test('a command that does not exist: the tool is offered as unreachable, a call is a tool error, the turn completes', async () => {
    const servers = pool(
      { fx: { command: '/nonexistent/mcp-server', timeoutMs: 2000 } },
      { environment: {} },
    );
    const toolset = new McpToolset(servers, { fx: ['add'] });
    const agent = new Agent({
      name: 'helper',
      instructions: 'Help.',
      model: new McpToolsModel(
        new OpenAIChatModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' }),
        toolset,
      ),
      tools: toolset.tools(),
    });
    fake.script(toolCallScript('fx__add', '{"a": 1, "b": 2}'), chatAnswer('The server is down.'));
    const { events, error } = await drain(agent.turn([userMessage('1 + 2?')], { signal: signal() }), 10_000);
    expect(error).toBeUndefined();

    const [first] = await fake.waitForRequests(2);
    const offered = (first!.body as { tools: { function: { name: string; description: string } }[] }).tools;
    expect(offered).toHaveLength(1);
    expect(offered[0]!.function.name).toBe('fx__add');
    expect(offered[0]!.function.description).toMatch(
      /cannot be reached now \(.*ENOENT.*\); a call tries to reach it again/,
    );

    const results = events.flatMap((event) =>
      event.type === 'delta' && event.delta.toolResult ? [event.delta.toolResult] : [],
    );
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ name: 'fx__add', isError: true });
    expect(results[0]!.output).toMatch(
      /^error: the MCP server "fx" is unavailable \(.*ENOENT.*\); the next call tries again$/,
    );
  });

  test('after a failed start, listings wait a backoff instead of starting the server on every model call', async () => {
    const servers = pool({ fx: { command: '/nonexistent/mcp-server' } }, { environment: {} });
    const connection = servers.get('fx')!;
    const first = await connection.listTools(signal());
    expect(first.error).toMatch(/ENOENT/);
    const started = Date.now();
    const second = await connection.listTools(signal());
    expect(second).toEqual(first); // the same failure, from the backoff: no new attempt
    expect(Date.now() - started).toBeLessThan(500);
  });

  test('a server that never answers the handshake: the listing gives up after connectTimeoutMs, a call after its timeout', async () => {
    const silent = {
      command: process.execPath,
      args: ['-e', 'setInterval(() => {}, 1000)'],
      connectTimeoutMs: 400,
      timeoutMs: 800,
    };
    const servers = pool({ fx: silent }, { environment: {} });
    const toolset = new McpToolset(servers, { fx: ['add'] });
    const listingStarted = Date.now();
    const specs = await toolset.specs(signal());
    expect(Date.now() - listingStarted).toBeLessThan(5000);
    expect(specs.get('fx__add')!.description).toMatch(
      /cannot be reached now \(no answer to the MCP handshake|timed out/i,
    );
    const outcome = await toolset.tools()[0]!.invoke('{"a": 1, "b": 2}', { signal: signal() });
    expect(outcome.isError).toBe(true);
    expect(outcome.output).toMatch(/^error: (the MCP server "fx" is unavailable|timed out after 800 ms)/);
  });

  test('a server whose process blocks is given up on at the timeout, and the next call reaches a restarted one', async () => {
    // Calls get 4 s; starting the process may take longer on a busy machine, so the test lets the
    // first connection be made by a listing (bounded by connectTimeoutMs).
    const servers = pool(
      { fx: stdioServerSpec({ timeoutMs: 4000, connectTimeoutMs: 15_000 }) },
      { environment: {} },
    );
    const connection = servers.get('fx')!;
    const tools = new Map(
      new McpToolset(servers, { fx: ['instance', 'freeze'] }).tools().map((tool) => [tool.name, tool]),
    );
    expect((await connection.listTools(signal())).error).toBeUndefined();
    const before = await tools.get('fx__instance')!.invoke('{}', { signal: signal() });
    expect(before.output).toMatch(/^pid \d+$/);
    expect(await tools.get('fx__freeze')!.invoke('{}', { signal: signal() })).toEqual({
      output: 'error: timed out after 4000 ms',
      isError: true,
    });
    // At once: this call waits for the ping after the given-up one (1 s), which the blocked
    // process misses, and goes to a new process. It used to go to the blocked one and time out.
    const after = await tools.get('fx__instance')!.invoke('{}', { signal: signal() });
    expect(after.isError, after.output).toBe(false);
    expect(after.output).toMatch(/^pid \d+$/);
    expect(after.output).not.toBe(before.output);
  });
});

describe('a streamable-HTTP server that goes away mid-call', () => {
  test('the call fails as unavailable within about a second, not at its timeout', async () => {
    const fixture = await startHttpMcpServer();
    const servers = pool({ web: { url: fixture.url, timeoutMs: 20_000 } }, { environment: {} });
    const [hang] = new McpToolset(servers, { web: ['hang'] }).tools();
    expect((await servers.get('web')!.listTools(signal())).error).toBeUndefined();
    const call = hang!.invoke('{}', { signal: signal() });
    await eventually(() => fixture.hangs() === 1, 'the call reached the server');
    const diedAt = Date.now();
    fixture.die(); // as its process exiting: the response stream is cut, new connections refused
    const outcome = await call;
    // It used to wait for the whole 20 s and say "timed out".
    expect(Date.now() - diedAt).toBeLessThan(5000);
    expect(outcome.isError).toBe(true);
    expect(outcome.output).toMatch(
      /^error: the MCP server "web" is unavailable \(.+\); the next call tries again$/,
    );
  });
});

describe('secrets from the environment', () => {
  let http: HttpMcpFixture;
  beforeAll(async () => {
    http = await startHttpMcpServer();
  });
  afterAll(async () => {
    await http.close();
  });

  const SECRET = 's3cret-value-4711';

  test('${NAME} in headers reaches the HTTP server and is never logged', async () => {
    const { logger, lines } = recordingLogger();
    const servers = pool(
      { fx: { url: http.url, headers: { Authorization: 'Bearer ${FIXTURE_TOKEN}', 'X-Team': 'chorus' } } },
      { environment: { FIXTURE_TOKEN: SECRET }, logger },
    );
    const tool = new McpToolset(servers, { fx: ['add'] }).tools()[0]!;
    expect(await tool.invoke('{"a": 1, "b": 1}', { signal: signal() })).toEqual({
      output: '1 + 1 = 2',
      isError: false,
    });
    expect(http.requests.length).toBeGreaterThan(0);
    for (const headers of http.requests.slice(-2)) {
      expect(headers.authorization).toBe(`Bearer ${SECRET}`);
      expect(headers['x-team']).toBe('chorus');
    }
    expect(lines.some((line) => line.includes('mcp server connected'))).toBe(true);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  test('${NAME} in env reaches the server process and is never logged', async () => {
    const { logger, lines } = recordingLogger();
    const servers = pool(
      { fx: stdioServerSpec({ env: { FIXTURE_GREETING: 'hello ${FIXTURE_TOKEN}' } }) },
      { environment: { FIXTURE_TOKEN: SECRET }, logger },
    );
    const tool = new McpToolset(servers, { fx: ['read_env'] }).tools()[0]!;
    expect(await tool.invoke('{"name": "FIXTURE_GREETING"}', { signal: signal() })).toEqual({
      output: `hello ${SECRET}`,
      isError: false,
    });
    // The process gets the safe defaults and what the file names, not the whole environment.
    expect(await tool.invoke('{"name": "FIXTURE_TOKEN"}', { signal: signal() })).toEqual({
      output: '(unset)',
      isError: false,
    });
    expect(lines.some((line) => line.includes('mcp server stderr'))).toBe(true);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  test('an unset variable is a tool error that names it, not a crash', async () => {
    const servers = pool(
      { fx: { url: http.url, headers: { Authorization: 'Bearer ${FIXTURE_MISSING}' } } },
      { environment: {} },
    );
    const tool = new McpToolset(servers, { fx: ['add'] }).tools()[0]!;
    expect(await tool.invoke('{"a": 1, "b": 1}', { signal: signal() })).toEqual({
      output:
        'error: the MCP server "fx" is unavailable (the environment variable FIXTURE_MISSING is not set); the next call tries again',
      isError: true,
    });
  });
});
