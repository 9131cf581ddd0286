// The agent's tool loop against the fake server: calls executed (in parallel), results streamed
// and fed back to the model, failures captured as results, the allow-list and the round cap.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { Agent, type AgentTurnEvent } from '../../src/agents/agent.ts';
import { ModelError } from '../../src/agents/model-client.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { OpenAIResponsesModel } from '../../src/agents/openai-responses-model.ts';
import { defineTool, type Tool } from '../../src/agents/tools.ts';
import { ContentAccumulator } from '../../src/protocol/content.ts';
import type { DeltaContent } from '../../src/protocol/frames.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { agentMessage, drain, userMessage, within } from './support.ts';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

/** A tool that resolves when the test says so, to observe that parallel calls overlap. */
function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

function weatherTool(
  execute: (city: string, signal: AbortSignal) => unknown = (city) => `sunny in ${city}`,
  timeoutMs?: number,
): Tool {
  return defineTool({
    name: 'get_weather',
    description: 'Weather now',
    parameters: z.object({ city: z.string() }),
    execute: ({ city }, { signal }) => execute(city, signal),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

function chatAgent(tools: Tool[], options: { maxToolRounds?: number } = {}): Agent {
  return new Agent({
    name: 'planner',
    instructions: 'Plan.',
    model: new OpenAIChatModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' }),
    tools,
    ...options,
  });
}

function deltasOf(events: readonly AgentTurnEvent[]): DeltaContent[] {
  return events.flatMap((event) => (event.type === 'delta' ? [event.delta] : []));
}

const turnOptions = () => ({ signal: new AbortController().signal, conversationKey: 'thread-1' });

describe('Chat Completions tool loop', () => {
  test('parallel calls run in parallel, results stream in call order and go back to the model', async () => {
    const timeStarted = gate();
    const weather = weatherTool(async (city) => {
      await timeStarted.opened; // only finishes once get_time has started: the calls overlap
      return `sunny in ${city}`;
    });
    const time = defineTool({
      name: 'get_time',
      description: 'Time now',
      parameters: z.object({ zone: z.string() }),
      execute: ({ zone }) => {
        timeStarted.open();
        return { zone, time: '18:00' };
      },
    });
    fake.script({ fixture: 'chat-parallel-tool-calls' }, { fixture: 'chat-answer-after-tools' });
    const agent = chatAgent([weather, time]);
    const { events, error } = await drain(
      agent.turn([userMessage('Weather in Paris, time in Tokyo?')], turnOptions()),
    );
    expect(error).toBeUndefined();

    const results = deltasOf(events).flatMap((delta) => (delta.toolResult ? [delta.toolResult] : []));
    expect(results).toEqual([
      { toolCallId: 'call_weather_1', name: 'get_weather', output: 'sunny in Paris' },
      { toolCallId: 'call_time_2', name: 'get_time', output: '{"zone":"Asia/Tokyo","time":"18:00"}' },
    ]);

    const [first, second] = await fake.waitForRequests(2);
    expect((first!.body as { tools: unknown[] }).tools).toHaveLength(2);
    expect((second!.body as { messages: unknown[] }).messages).toEqual([
      { role: 'system', content: 'Plan.' },
      { role: 'user', content: 'Weather in Paris, time in Tokyo?', name: 'ada' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_weather_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city": "Paris"}' },
          },
          {
            id: 'call_time_2',
            type: 'function',
            function: { name: 'get_time', arguments: '{"zone": "Asia/Tokyo"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_weather_1', content: 'sunny in Paris' },
      { role: 'tool', tool_call_id: 'call_time_2', content: '{"zone":"Asia/Tokyo","time":"18:00"}' },
    ]);

    // The accumulated message holds calls, results and the answer in order; usage of both calls.
    const content = new ContentAccumulator();
    for (const delta of deltasOf(events)) content.apply(delta);
    expect(content.text).toBe('Paris is sunny at 21°C; in Tokyo it is 18:00.');
    expect(content.parts.map((part) => part.type)).toEqual([
      'tool-call',
      'tool-call',
      'tool-result',
      'tool-result',
      'text',
    ]);
    const usage = events.flatMap((event) => (event.type === 'usage' ? [event.usage] : []));
    expect(usage).toEqual([
      { inputTokens: 85, outputTokens: 40, totalTokens: 125 },
      { inputTokens: 120, outputTokens: 13, totalTokens: 133 },
    ]);
  });

  test('complete() returns the whole turn', async () => {
    fake.script({ fixture: 'chat-tool-call' }, { fixture: 'chat-text' });
    const result = await within(
      chatAgent([weatherTool()]).complete([userMessage('Weather?')], turnOptions()),
      'complete',
    );
    expect(result.text).toBe('Hello from Chorus.');
    expect(result.parts).toEqual([
      {
        type: 'tool-call',
        toolCallId: 'call_weather_1',
        name: 'get_weather',
        arguments: '{"city": "Paris"}',
      },
      { type: 'tool-result', toolCallId: 'call_weather_1', name: 'get_weather', output: 'sunny in Paris' },
      { type: 'text', text: 'Hello from Chorus.' },
    ]);
    expect(result.usage).toEqual({ inputTokens: 122, outputTokens: 22, totalTokens: 144 });
  });

  test('a throwing tool, a timed-out tool and invalid arguments become error results; the run goes on', async () => {
    fake.script(
      { fixture: 'chat-tool-call' },
      { fixture: 'chat-tool-call' },
      { fixture: 'chat-tool-call-bad-arguments' },
      { fixture: 'chat-text' },
    );
    let call = 0;
    const flaky = weatherTool((city, signal) => {
      call += 1;
      if (call === 1) throw new Error(`no station in ${city}`);
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }),
      );
    }, 40);
    const { events, error } = await drain(chatAgent([flaky]).turn([userMessage('Weather?')], turnOptions()));
    expect(error).toBeUndefined();
    const results = deltasOf(events).flatMap((delta) => (delta.toolResult ? [delta.toolResult] : []));
    expect(
      results.map((result) => [
        result.isError,
        result.output.split(':')[0] + ':' + result.output.split(':')[1],
      ]),
    ).toEqual([
      [true, 'error: no station in Paris'],
      [true, 'error: timed out after 40 ms'],
      [true, 'error: invalid arguments'],
    ]);
    const fourth = (await fake.waitForRequests(4))[3]!;
    const toolMessages = (fourth.body as { messages: { role: string; content: string }[] }).messages.filter(
      (message) => message.role === 'tool',
    );
    expect(toolMessages.map((message) => message.content.slice(0, 24))).toEqual([
      'error: no station in Par',
      'error: timed out after 4',
      'error: invalid arguments',
    ]);
  });

  test('a call to a tool outside the allow-list gets an unknown tool error result', async () => {
    fake.script({ fixture: 'chat-unknown-tool' }, { fixture: 'chat-text' });
    let ran = false;
    const { events, error } = await drain(
      chatAgent([weatherTool(() => ((ran = true), 'x'))]).turn([userMessage('Clean up')], turnOptions()),
    );
    expect(error).toBeUndefined();
    expect(deltasOf(events).find((delta) => delta.toolResult)?.toolResult).toEqual({
      toolCallId: 'call_delete_1',
      name: 'delete_everything',
      output: 'error: unknown tool "delete_everything"',
      isError: true,
    });
    expect(ran).toBe(false);
  });

  test('an agent without tools sends no tools', async () => {
    fake.script({ fixture: 'chat-text' });
    await drain(chatAgent([]).turn([userMessage('Hi')], turnOptions()));
    const [sent] = await fake.waitForRequests(1);
    expect((sent!.body as Record<string, unknown>).tools).toBeUndefined();
  });

  test('a model that keeps calling tools stops with tool-rounds-exceeded after maxToolRounds', async () => {
    fake.script({ fixture: 'chat-tool-call' }, { fixture: 'chat-tool-call' }, { fixture: 'chat-tool-call' });
    const { events, error } = await drain(
      chatAgent([weatherTool()], { maxToolRounds: 2 }).turn([userMessage('?')], turnOptions()),
    );
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('tool-rounds-exceeded');
    expect(deltasOf(events).filter((delta) => delta.toolResult)).toHaveLength(2);
    expect(fake.requests).toHaveLength(3);
  });

  test('cancelling while a tool runs aborts the tool and ends the turn with the reason', async () => {
    fake.script({ fixture: 'chat-tool-call' });
    const started = gate();
    let toolSignal: AbortSignal | undefined;
    const hanging = weatherTool((_city, signal) => {
      toolSignal = signal;
      started.open();
      return new Promise(() => undefined);
    });
    const controller = new AbortController();
    const turn = drain(chatAgent([hanging]).turn([userMessage('?')], { signal: controller.signal }));
    await within(started.opened, 'the tool to start');
    const reason = new Error('cancel');
    controller.abort(reason);
    const { error } = await turn;
    expect(error).toBe(reason);
    expect(toolSignal?.aborted).toBe(true);
  });
});

describe('Responses tool loop', () => {
  test('the second call continues the chain with only the function_call_output', async () => {
    fake.script({ fixture: 'responses-function-call' }, { fixture: 'responses-answer-after-tools' });
    const agent = new Agent({
      name: 'researcher',
      instructions: 'Research.',
      model: new OpenAIResponsesModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' }),
      tools: [weatherTool()],
    });
    const history = [userMessage('Weather in Paris?')];
    const result = await within(agent.complete(history, turnOptions()), 'the turn');
    expect(result.text).toBe('It is sunny in Paris.');

    const [first, second] = await fake.waitForRequests(2);
    expect((first!.body as Record<string, unknown>).tools).toEqual([
      {
        type: 'function',
        name: 'get_weather',
        description: 'Weather now',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: false,
      },
    ]);
    expect(second!.body).toMatchObject({
      previous_response_id: 'resp_fc_1',
      input: [{ type: 'function_call_output', call_id: 'call_lookup_1', output: 'sunny in Paris' }],
    });

    // The next turn anchors on resp_fc_2 and skips the agent's own answer.
    fake.script({ fixture: 'responses-text' });
    const answer = agentMessage('researcher', result.text, result.parts);
    await within(agent.complete([...history, answer, userMessage('Thanks')], turnOptions()), 'the next turn');
    const third = (await fake.waitForRequests(3))[2]!;
    expect(third.body).toMatchObject({
      previous_response_id: 'resp_fc_2',
      input: [{ type: 'message', role: 'user', content: 'Thanks' }],
    });
  });
});
