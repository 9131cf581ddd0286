// OpenAIChatModel against the fake OpenAI server: what Chorus sends, how chunks map to events,
// and what happens when the stream breaks or the caller cancels.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ModelError, type ModelEvent, type ModelTurnRequest } from '../../src/agents/model-client.ts';
import {
  chatMessages,
  OpenAIChatModel,
  type OpenAIChatModelOptions,
} from '../../src/agents/openai-chat-model.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { agentMessage, drain, textOf, userMessage, within } from './support.ts';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

function chatModel(options: Partial<OpenAIChatModelOptions> = {}): OpenAIChatModel {
  return new OpenAIChatModel({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'gpt-test', ...options });
}

function request(overrides: Partial<ModelTurnRequest> = {}): ModelTurnRequest {
  return {
    agent: { name: 'planner', instructions: 'You plan.' },
    messages: [userMessage('Plan a trip to Paris')],
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('what Chorus sends', () => {
  test('model, instructions as the system message, history as messages, stream with usage', async () => {
    fake.script({ fixture: 'chat-text' });
    const model = chatModel({ temperature: 0.2, topP: 0.9, maxOutputTokens: 300, extra: { seed: 7 } });
    const history = [
      userMessage('Plan a trip to Paris', 'Ada Lovelace'),
      agentMessage('planner', 'Step 1: book a train.'),
      agentMessage('writer', 'Here is the itinerary.'),
      userMessage('Thanks!', 'ada'),
    ];
    await drain(model.stream(request({ messages: history })));

    const [sent] = await fake.waitForRequests(1);
    expect(sent!.method).toBe('POST');
    expect(sent!.path).toBe('/v1/chat/completions');
    expect(sent!.headers.authorization).toBe('Bearer sk-test');
    expect(sent!.body).toEqual({
      seed: 7,
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      top_p: 0.9,
      max_completion_tokens: 300,
      messages: [
        { role: 'system', content: 'You plan.' },
        { role: 'user', content: 'Plan a trip to Paris', name: 'Ada_Lovelace' },
        { role: 'assistant', content: 'Step 1: book a train.' },
        { role: 'assistant', content: 'Here is the itinerary.', name: 'writer' },
        { role: 'user', content: 'Thanks!', name: 'ada' },
      ],
    });
  });

  test("other agents' messages as user messages with a prefix when asked", () => {
    const messages = chatMessages(
      {
        agent: { name: 'planner', instructions: '' },
        messages: [userMessage('Hi'), agentMessage('writer', 'Draft ready.')],
      },
      'user',
    );
    expect(messages).toEqual([
      { role: 'user', content: 'Hi', name: 'ada' },
      { role: 'user', content: '[writer]: Draft ready.', name: 'writer' },
    ]);
  });

  test('tool calls and results in history become assistant tool_calls and tool messages', () => {
    const own = agentMessage('planner', 'Let me check. Sunny.', [
      { type: 'text', text: 'Let me check.' },
      { type: 'tool-call', toolCallId: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'tool-call', toolCallId: 'call_2', name: 'get_time', arguments: '{"zone":"Europe/Paris"}' },
      { type: 'tool-result', toolCallId: 'call_1', name: 'get_weather', output: 'sunny' },
      { type: 'tool-result', toolCallId: 'call_2', name: 'get_time', output: '18:00' },
      { type: 'text', text: ' Sunny.' },
      // a call left without a result (a cancelled turn) is dropped: the API rejects it
      { type: 'tool-call', toolCallId: 'call_3', name: 'get_weather', arguments: '{}' },
    ]);
    const messages = chatMessages({
      agent: { name: 'planner', instructions: 'Plan.' },
      messages: [own],
      turnParts: [
        { type: 'tool-call', toolCallId: 'call_9', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'tool-result', toolCallId: 'call_9', name: 'get_weather', output: 'rain' },
      ],
    });
    expect(messages).toEqual([
      { role: 'system', content: 'Plan.' },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          {
            id: 'call_2',
            type: 'function',
            function: { name: 'get_time', arguments: '{"zone":"Europe/Paris"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      { role: 'tool', tool_call_id: 'call_2', content: '18:00' },
      { role: 'assistant', content: ' Sunny.' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_9', content: 'rain' },
    ]);
  });

  test('tools are sent as function tools; max_tokens when the server wants it', async () => {
    fake.script({ fixture: 'chat-text' });
    const model = chatModel({ maxTokensField: 'max_tokens' });
    const parameters = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    await drain(
      model.stream(
        request({
          tools: [{ name: 'get_weather', description: 'Weather now', parameters }],
          maxOutputTokens: 50,
        }),
      ),
    );
    const [sent] = await fake.waitForRequests(1);
    const body = sent!.body as Record<string, unknown>;
    expect(body.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather now', parameters } },
    ]);
    expect(body.max_tokens).toBe(50);
    expect(body.max_completion_tokens).toBeUndefined();
  });
});

describe('chunks → events', () => {
  test('text deltas, finish, then usage from the final chunk with empty choices', async () => {
    fake.script({ fixture: 'chat-text' });
    const { events, error } = await drain(chatModel().stream(request()));
    expect(error).toBeUndefined();
    expect(events).toEqual<ModelEvent[]>([
      { type: 'delta', delta: { text: 'Hello' } },
      { type: 'delta', delta: { text: ' from' } },
      { type: 'delta', delta: { text: ' Chorus' } },
      { type: 'delta', delta: { text: '.' } },
      { type: 'finish', reason: 'stop' },
      { type: 'usage', usage: { inputTokens: 42, outputTokens: 4, totalTokens: 46 } },
    ]);
  });

  test('tool-call arguments split across chunks keep the id of their index', async () => {
    fake.script({ fixture: 'chat-parallel-tool-calls' });
    const { events } = await drain(chatModel().stream(request()));
    const calls = events.flatMap((event) =>
      event.type === 'delta' && event.delta.toolCall ? [event.delta.toolCall] : [],
    );
    expect(calls).toEqual([
      { toolCallId: 'call_weather_1', index: 0, name: 'get_weather' },
      { toolCallId: 'call_weather_1', index: 0, arguments: '{"city"' },
      { toolCallId: 'call_weather_1', index: 0, arguments: ': "Paris"}' },
      { toolCallId: 'call_time_2', index: 1, name: 'get_time' },
      { toolCallId: 'call_time_2', index: 1, arguments: '{"zone": ' },
      { toolCallId: 'call_time_2', index: 1, arguments: '"Asia/Tokyo"}' },
    ]);
    expect(events).toContainEqual({ type: 'finish', reason: 'tool-calls' });
  });

  test('refusal deltas', async () => {
    fake.script({ fixture: 'chat-refusal' });
    const { events } = await drain(chatModel().stream(request()));
    const refusal = events
      .map((event) => (event.type === 'delta' ? (event.delta.refusal ?? '') : ''))
      .join('');
    expect(refusal).toBe("I'm sorry, I can't help with that.");
    expect(textOf(events)).toBe('');
  });

  test('finish_reason length', async () => {
    fake.script({ fixture: 'chat-length' });
    const { events } = await drain(chatModel().stream(request()));
    expect(events).toContainEqual({ type: 'finish', reason: 'length' });
  });
});

describe('failures and cancellation', () => {
  test('a stream cut after tokens throws ModelError connection after the deltas, without retry', async () => {
    fake.script({ fixture: 'chat-long-text', cutAfter: 4 });
    const { events, error } = await drain(chatModel().stream(request()));
    expect(textOf(events)).toBe('One two three');
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('connection');
    expect(fake.requests).toHaveLength(1);
  });

  test('abort cancels the HTTP request: the server sees the connection closed early', async () => {
    fake.script({ fixture: 'chat-long-text', stallAfter: 3 });
    const controller = new AbortController();
    const stream = chatModel().stream(request({ signal: controller.signal }));
    const iterator = stream[Symbol.asyncIterator]();
    const first = await within(iterator.next(), 'first event');
    expect(first.value).toEqual({ type: 'delta', delta: { text: 'One' } });
    const pending = iterator.next().then(() => iterator.next());
    const reason = new Error('cancelled by the test');
    controller.abort(reason);
    await expect(within(pending, 'the stream to end after abort')).rejects.toBe(reason);
    const [sent] = await fake.waitForRequests(1);
    await within(sent!.closed, 'the fake server to see the connection close');
    expect(sent!.aborted).toBe(true);
  });

  test('the per-turn timeout aborts the request with ModelError timeout', async () => {
    fake.script({ fixture: 'chat-long-text', stallAfter: 2 });
    const { events, error } = await drain(chatModel({ timeoutMs: 150 }).stream(request()));
    expect(textOf(events)).toBe('One');
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('timeout');
    const [sent] = await fake.waitForRequests(1);
    await within(sent!.closed, 'the fake server to see the connection close');
    expect(sent!.aborted).toBe(true);
  });
});
