// MCP tools in an agent's tool loop, against the MCP servers the test starts (stdio and
// streamable HTTP, both written with the SDK's server classes) and the loopback OpenAI-compatible
// server asking for the calls: the tools' JSON Schemas reach the model, calls stream as tool-call
// deltas and results, and a server that hangs, crashes or cannot start is a tool error the model
// reads — the turn goes on, and a later call reaches a restarted server.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Agent, type AgentTurnEvent } from '../../src/agents/agent.ts';
import { McpServerPool } from '../../src/agents/mcp/mcp-server-pool.ts';
import type { McpServerSpec } from '../../src/agents/mcp/mcp-server-spec.ts';
import { McpToolsModel } from '../../src/agents/mcp/mcp-tools-model.ts';
import { McpToolset, type McpToolAllowList } from '../../src/agents/mcp/mcp-tools.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { ContentAccumulator } from '../../src/protocol/content.ts';
import type { DeltaContent } from '../../src/protocol/frames.ts';
import { startHttpMcpServer, type HttpMcpFixture } from '../fixtures/mcp/http-server.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { chatAnswer } from '../teams/support.ts';
import { eventually, stdioServerSpec, toolCallScript } from './mcp-support.ts';
import { drain, userMessage } from './support.ts';

const TIMEOUT_MS = 1500;

let fake: FakeOpenAI;
let http: HttpMcpFixture;
beforeAll(async () => {
  http = await startHttpMcpServer();
});
afterAll(async () => {
  await http.close();
});
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

/** The fixture servers; calls get 10 s unless a test says less (a restart counts against a call). */
const transports: { transport: string; spec: (overrides?: Partial<McpServerSpec>) => McpServerSpec }[] = [
  { transport: 'stdio', spec: (overrides = {}) => stdioServerSpec({ timeoutMs: 10_000, ...overrides }) },
  {
    transport: 'streamable HTTP',
    spec: (overrides = {}) => ({ url: http.url, timeoutMs: 10_000, ...overrides }),
  },
];

interface Harness {
  agent: Agent;
  pool: McpServerPool;
}

/** An agent on Chat Completions (the fake) with the MCP tools `allowed` of the server `fx`. */
function mcpAgent(spec: McpServerSpec, allowed: McpToolAllowList, pools: McpServerPool[]): Harness {
  const pool = new McpServerPool({ fx: spec }, { environment: {} });
  pools.push(pool);
  const toolset = new McpToolset(pool, allowed);
  const model = new OpenAIChatModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' });
  const agent = new Agent({
    name: 'helper',
    instructions: 'Help.',
    model: new McpToolsModel(model, toolset),
    tools: toolset.tools(),
  });
  return { agent, pool };
}

function deltasOf(events: readonly AgentTurnEvent[]): DeltaContent[] {
  return events.flatMap((event) => (event.type === 'delta' ? [event.delta] : []));
}

function resultsOf(events: readonly AgentTurnEvent[]) {
  return deltasOf(events).flatMap((delta) => (delta.toolResult ? [delta.toolResult] : []));
}

const turnOptions = () => ({ signal: new AbortController().signal });

type RequestBody = {
  tools?: { type: string; function: { name: string; description: string; parameters: unknown } }[];
  messages: { role: string; content: unknown; tool_call_id?: string }[];
};

describe.each(transports)('MCP tools over $transport', ({ spec }) => {
  const pools: McpServerPool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
  });

  test("the tool's JSON Schema reaches the model; the call streams as deltas and a result in the message parts", async () => {
    const { agent } = mcpAgent(spec(), { fx: ['add'] }, pools);
    fake.script(toolCallScript('fx__add', '{"a": 2, "b": 3}'), chatAnswer('It is 5.'));
    const { events, error } = await drain(agent.turn([userMessage('2 + 3?')], turnOptions()), 10_000);
    expect(error).toBeUndefined();

    const [first, second] = await fake.waitForRequests(2);
    expect((first!.body as RequestBody).tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'fx__add',
          description: 'Adds two numbers.',
          parameters: expect.objectContaining({
            type: 'object',
            properties: { a: { type: 'number', description: 'the first number' }, b: { type: 'number' } },
            required: ['a', 'b'],
          }),
        },
      },
    ]);

    const calls = deltasOf(events).flatMap((delta) => (delta.toolCall ? [delta.toolCall] : []));
    expect(calls.length).toBeGreaterThan(1); // fragments, as the model streamed them
    expect(calls[0]).toMatchObject({ toolCallId: 'call_fx__add', name: 'fx__add' });
    expect(calls.map((call) => call.arguments ?? '').join('')).toBe('{"a": 2, "b": 3}');
    expect(resultsOf(events)).toEqual([{ toolCallId: 'call_fx__add', name: 'fx__add', output: '2 + 3 = 5' }]);

    const content = new ContentAccumulator();
    for (const delta of deltasOf(events)) content.apply(delta);
    expect(content.parts).toEqual([
      { type: 'tool-call', toolCallId: 'call_fx__add', name: 'fx__add', arguments: '{"a": 2, "b": 3}' },
      { type: 'tool-result', toolCallId: 'call_fx__add', name: 'fx__add', output: '2 + 3 = 5' },
      { type: 'text', text: 'It is 5.' },
    ]);
    expect((second!.body as RequestBody).messages.at(-1)).toEqual({
      role: 'tool',
      tool_call_id: 'call_fx__add',
      content: '2 + 3 = 5',
    });
  });

  test('a server that hangs is a tool error the model reads within the timeout; the turn completes', async () => {
    const { agent } = mcpAgent(spec({ timeoutMs: TIMEOUT_MS }), { fx: ['hang', 'add'] }, pools);
    fake.script(toolCallScript('fx__hang', '{}'), chatAnswer('The tool did not answer.'));
    // When each event arrived: the result must follow the end of the call by about the timeout.
    const arrivals: number[] = [];
    const { events, error } = await drain(
      timed(agent.turn([userMessage('Go')], turnOptions()), arrivals),
      20_000,
    );
    expect(error).toBeUndefined();
    expect(resultsOf(events)).toEqual([
      {
        toolCallId: 'call_fx__hang',
        name: 'fx__hang',
        output: `error: timed out after ${TIMEOUT_MS} ms`,
        isError: true,
      },
    ]);
    const lastCallDelta = events.findLastIndex((event) => event.type === 'delta' && event.delta.toolCall);
    const resultDelta = events.findIndex((event) => event.type === 'delta' && event.delta.toolResult);
    const waited = arrivals[resultDelta]! - arrivals[lastCallDelta]!;
    expect(waited).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(waited).toBeLessThan(TIMEOUT_MS + 3000);
    const [, second] = await fake.waitForRequests(2);
    expect((second!.body as RequestBody).messages.at(-1)).toMatchObject({
      role: 'tool',
      content: `error: timed out after ${TIMEOUT_MS} ms`,
    });
    const text = deltasOf(events)
      .map((delta) => delta.text ?? '')
      .join('');
    expect(text).toBe('The tool did not answer.');
  });

  test('a server that crashes is a tool error, and a later call reaches it again (restarted)', async () => {
    const { agent } = mcpAgent(spec(), { fx: ['instance', 'crash'] }, pools);
    fake.script(
      toolCallScript('fx__instance', '{}', 'call_1'),
      toolCallScript('fx__crash', '{}', 'call_2'),
      toolCallScript('fx__instance', '{}', 'call_3'),
      chatAnswer('Back again.'),
    );
    const { events, error } = await drain(agent.turn([userMessage('Go')], turnOptions()), 15_000);
    expect(error).toBeUndefined();
    const [before, crashed, after] = resultsOf(events);
    expect(before).toMatchObject({ toolCallId: 'call_1' });
    expect(before!.isError).toBeUndefined();
    expect(crashed).toMatchObject({ toolCallId: 'call_2', name: 'fx__crash', isError: true });
    expect(crashed!.output).toMatch(
      /^error: the MCP server "fx" is unavailable \(.+\); the next call tries again$/,
    );
    expect(after).toMatchObject({ toolCallId: 'call_3' });
    expect(after!.isError).toBeUndefined();
    expect(after!.output).not.toBe(before!.output); // another process, or another session
    expect(after!.output).toMatch(/^(pid|session) /);
  });

  test('a tool the agent is not allowed is not offered, and a call to it is refused', async () => {
    const { agent } = mcpAgent(spec(), { fx: ['add'] }, pools);
    fake.script(toolCallScript('fx__admin_reset', '{}'), chatAnswer('I may not.'));
    const { events, error } = await drain(agent.turn([userMessage('Reset')], turnOptions()), 10_000);
    expect(error).toBeUndefined();
    const [first] = await fake.waitForRequests(1);
    expect((first!.body as RequestBody).tools?.map((tool) => tool.function.name)).toEqual(['fx__add']);
    expect(resultsOf(events)).toEqual([
      {
        toolCallId: 'call_fx__admin_reset',
        name: 'fx__admin_reset',
        output: 'error: unknown tool "fx__admin_reset"',
        isError: true,
      },
    ]);
  });

  test('an isError result, oversized output and non-text content come back bounded', async () => {
    const pool = new McpServerPool({ fx: { ...spec(), maxOutputBytes: 1000 } }, { environment: {} });
    pools.push(pool);
    const tools = new Map(
      new McpToolset(pool, { fx: ['fail', 'big', 'media'] }).tools().map((tool) => [tool.name, tool]),
    );
    const { signal } = new AbortController();
    expect(await tools.get('fx__fail')!.invoke('{"reason": "not today"}', { signal })).toEqual({
      output: 'error: refused: not today',
      isError: true,
    });
    const big = await tools.get('fx__big')!.invoke('{"bytes": 100000}', { signal });
    expect(big.isError).toBe(false);
    expect(big.output).toBe(`${'x'.repeat(1000)}\n…[truncated: 100000 bytes, first 1000 shown]`);
    const media = await tools.get('fx__media')!.invoke('{}', { signal });
    expect(media).toEqual({
      output: [
        'a chart',
        '[image: image/png, 3000 bytes, not shown]',
        '[resource file:///notes.txt (text/plain)]',
        'hello',
        '[resource file:///data.bin: 10 bytes of binary data, not shown]',
        '[resource link report <file:///report.pdf>, application/pdf]',
      ].join('\n'),
      isError: false,
    });
    expect(media.output).not.toContain(Buffer.alloc(3000, 7).toString('base64').slice(0, 40));
    expect(await tools.get('fx__big')!.invoke('[1, 2]', { signal })).toEqual({
      output: 'error: arguments must be a JSON object',
      isError: true,
    });
  });

  test('a tool the server adds later (tools/list_changed) is offered once listed', async () => {
    const pool = new McpServerPool({ fx: spec() }, { environment: {} });
    pools.push(pool);
    const toolset = new McpToolset(pool, { fx: ['grow', 'late'] });
    const { signal } = new AbortController();
    expect([...(await toolset.specs(signal)).keys()]).toEqual(['fx__grow']);
    const grow = toolset.tools().find((tool) => tool.name === 'fx__grow')!;
    expect(await grow.invoke('{}', { signal })).toEqual({ output: 'added "late"', isError: false });
    await eventually(
      async () => (await toolset.specs(signal)).has('fx__late'),
      'the new tool is offered (list_changed arrives on its own)',
    );
    const late = toolset.tools().find((tool) => tool.name === 'fx__late')!;
    expect(await late.invoke('{}', { signal })).toEqual({ output: 'late tool here', isError: false });
  });

  test('one connection per server definition, shared by every agent; close() ends it', async () => {
    const pool = new McpServerPool({ fx: spec() }, { environment: {} });
    const { signal } = new AbortController();
    const instanceOf = (toolset: McpToolset) =>
      toolset
        .tools()[0]!
        .invoke('{}', { signal })
        .then((outcome) => outcome.output);
    const first = await instanceOf(new McpToolset(pool, { fx: ['instance'] }));
    const second = await instanceOf(new McpToolset(pool, { fx: ['instance'] }));
    expect(second).toBe(first);
    expect(pool.get('fx')!.connected).toBe(true);
    await pool.close();
    expect(pool.get('fx')!.connected).toBe(false);
    if (first.startsWith('pid ')) {
      const pid = Number(first.slice(4));
      expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    }
    const afterClose = await new McpToolset(pool, { fx: ['instance'] }).tools()[0]!.invoke('{}', { signal });
    expect(afterClose).toMatchObject({ isError: true, output: expect.stringMatching(/is shut down/) });
  });
});

/** Passes `events` through, noting when each one arrived. */
async function* timed<T>(events: AsyncIterable<T>, arrivals: number[]): AsyncGenerator<T> {
  for await (const event of events) {
    arrivals.push(Date.now());
    yield event;
  }
}
