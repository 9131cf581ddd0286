// A ChatCompletionAgent built in code with tools of an MCP server (the library's `mcpServers` and
// `mcpTools`, as a team file's): the real openai SDK talks to the loopback OpenAI-compatible
// server, which asks for a call of the stdio fixture server's `add`; the model is offered the
// server's own schema, the stream carries the call and its result, the thread holds both, and a
// tool the agent is not allowed is never offered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatCompletionAgent, McpServerPool, type StreamingChatItem } from '../../src/index.ts';
import { stdioServerSpec, toolCallScript } from '../agents/mcp-support.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { chatAnswer } from '../teams/support.ts';

describe('ChatCompletionAgent with MCP tools', () => {
  let fake: FakeOpenAI;
  let servers: McpServerPool;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    servers = new McpServerPool({ fx: stdioServerSpec() });
  });

  afterAll(async () => {
    await servers?.close();
    await fake?.close();
  });

  it('offers the allowed tools with their servers’ schemas, streams the call and its result, and keeps both in the thread', async () => {
    const agent = new ChatCompletionAgent({
      name: 'Calculator',
      instructions: 'Use your tools.',
      model: { provider: 'openai-chat', model: 'm', baseURL: fake.baseURL, apiKeyEnv: 'FAKE_KEY' },
      env: { FAKE_KEY: 'sk-fake' },
      mcpServers: servers,
      mcpTools: { fx: ['add'] },
    });
    fake.script(toolCallScript('fx__add', '{"a": 2, "b": 3}', 'call_add'), chatAnswer('It is 5.'));
    const items: StreamingChatItem[] = [];
    let thread;
    for await (const item of agent.invokeStream('What is 2 + 3?')) {
      items.push(item);
      thread = item.thread;
    }

    const results = items.flatMap((item) => (item.delta.toolResult ? [item.delta.toolResult] : []));
    expect(results).toEqual([{ toolCallId: 'call_add', name: 'fx__add', output: '2 + 3 = 5' }]);
    expect(items.map((item) => item.content).join('')).toBe('It is 5.');
    const [first, second] = await fake.waitForRequests(2);
    const offered = (first!.body as { tools: { function: { name: string; parameters: unknown } }[] }).tools;
    expect(offered.map((tool) => tool.function.name)).toEqual(['fx__add']);
    expect(offered[0]!.function.parameters).toMatchObject({
      properties: { a: { type: 'number', description: 'the first number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    });
    expect(JSON.stringify((second!.body as { messages: unknown[] }).messages)).toContain('2 + 3 = 5');

    const stored = [];
    for await (const message of thread!.getMessages()) stored.push(message);
    expect(stored.at(-1)?.parts).toEqual([
      { type: 'tool-call', toolCallId: 'call_add', name: 'fx__add', arguments: '{"a": 2, "b": 3}' },
      { type: 'tool-result', toolCallId: 'call_add', name: 'fx__add', output: '2 + 3 = 5' },
      { type: 'text', text: 'It is 5.' },
    ]);
  });

  it('refuses mcpTools without mcpServers, a server the pool does not have, and a malformed server', () => {
    const base = { name: 'A', instructions: 'x', model: { provider: 'demo' as const } };
    expect(() => new ChatCompletionAgent({ ...base, mcpTools: { fx: ['add'] } })).toThrow(
      'agent "A": mcpTools need mcpServers',
    );
    expect(
      () => new ChatCompletionAgent({ ...base, mcpServers: servers, mcpTools: { other: ['add'] } }),
    ).toThrow('no MCP server is named "other"');
    expect(() => new McpServerPool({ bad: { command: 'node', url: 'http://localhost:1/mcp' } })).toThrow(
      /MCP server "bad": .*either `command`/s,
    );
    expect(() => new McpServerPool({ a__b: { command: 'node' } })).toThrow(/MCP server "a__b"/);
  });
});
