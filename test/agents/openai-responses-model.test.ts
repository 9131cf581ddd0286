// OpenAIResponsesModel against the fake OpenAI server: event mapping, the previous_response_id
// chain kept per conversation and agent, failures, and deleting the remote state.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { ModelError, type ModelEvent, type ModelTurnRequest } from '../../src/agents/model-client.ts';
import {
  OpenAIResponsesModel,
  type OpenAIResponsesModelOptions,
} from '../../src/agents/openai-responses-model.ts';
import { InMemoryConversationState } from '../../src/agents/remote-conversation-state.ts';
import type { DeltaContent } from '../../src/protocol/frames.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { agentMessage, drain, textOf, userMessage, within } from './support.ts';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

function responsesModel(options: Partial<OpenAIResponsesModelOptions> = {}): OpenAIResponsesModel {
  return new OpenAIResponsesModel({
    apiKey: 'sk-test',
    baseURL: fake.baseURL,
    model: 'gpt-test',
    ...options,
  });
}

function request(overrides: Partial<ModelTurnRequest> = {}): ModelTurnRequest {
  return {
    agent: { name: 'researcher', instructions: 'You research.' },
    messages: [userMessage('What is Chorus?')],
    conversationKey: 'thread-1',
    signal: new AbortController().signal,
    ...overrides,
  };
}

function deltas(events: readonly ModelEvent[]): DeltaContent[] {
  return events.flatMap((event) => (event.type === 'delta' ? [event.delta] : []));
}

describe('events', () => {
  test('text deltas, usage and finish from response.completed; the request says what Chorus sent', async () => {
    fake.script({ fixture: 'responses-text' });
    const { events, error } = await drain(
      responsesModel({ temperature: 0.3, maxOutputTokens: 200 }).stream(request()),
    );
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe('Hello from the Responses API.');
    expect(events.slice(-2)).toEqual<ModelEvent[]>([
      { type: 'usage', usage: { inputTokens: 30, outputTokens: 6, totalTokens: 36 } },
      { type: 'finish', reason: 'stop' },
    ]);
    const [sent] = await fake.waitForRequests(1);
    expect(sent!.path).toBe('/v1/responses');
    expect(sent!.body).toEqual({
      model: 'gpt-test',
      instructions: 'You research.',
      input: [{ type: 'message', role: 'user', content: 'What is Chorus?' }],
      store: true,
      stream: true,
      temperature: 0.3,
      max_output_tokens: 200,
    });
  });

  test('annotations of every kind, with file references for produced files', async () => {
    fake.script({ fixture: 'responses-annotations' });
    const { events } = await drain(responsesModel().stream(request()));
    const annotated = deltas(events).filter((delta) => delta.annotation);
    expect(annotated).toEqual([
      {
        annotation: {
          kind: 'url-citation',
          url: 'https://example.com/chorus',
          title: 'Chorus docs',
          startIndex: 0,
          endIndex: 14,
        },
      },
      {
        annotation: {
          kind: 'file-citation',
          fileId: 'file-cite123',
          filename: 'handbook.pdf',
          startIndex: 30,
        },
      },
      {
        annotation: { kind: 'file-path', fileId: 'file-path456', startIndex: 45 },
        file: { fileId: 'file-path456' },
      },
      {
        annotation: {
          kind: 'container-file-citation',
          fileId: 'cfile_abc',
          filename: 'chart.png',
          startIndex: 46,
          endIndex: 60,
          containerId: 'cntr_789',
        },
        file: { fileId: 'cfile_abc', filename: 'chart.png', containerId: 'cntr_789' },
      },
    ]);
    expect(textOf(events)).toBe('Chorus streams tokens to viewers (see the handbook) and a chart.');
  });

  test('reasoning summaries (parts as paragraphs), then text', async () => {
    fake.script({ fixture: 'responses-reasoning' });
    const { events } = await drain(responsesModel().stream(request()));
    const reasoning = deltas(events)
      .map((delta) => delta.reasoning ?? '')
      .join('');
    expect(reasoning).toBe('**Planning** the answer\n\nChecking the facts');
    expect(textOf(events)).toBe('Forty-two.');
  });

  test('refusal deltas', async () => {
    fake.script({ fixture: 'responses-refusal' });
    const { events } = await drain(responsesModel().stream(request()));
    expect(
      deltas(events)
        .map((delta) => delta.refusal ?? '')
        .join(''),
    ).toBe("I can't help with that.");
  });

  test('function calls: name and call_id from output_item.added, arguments from their deltas', async () => {
    fake.script({ fixture: 'responses-function-call' });
    const { events } = await drain(responsesModel().stream(request()));
    expect(deltas(events)).toEqual([
      { toolCall: { toolCallId: 'call_lookup_1', index: 0, name: 'get_weather' } },
      { toolCall: { toolCallId: 'call_lookup_1', index: 0, arguments: '{"ci' } },
      { toolCall: { toolCallId: 'call_lookup_1', index: 0, arguments: 'ty": "Pa' } },
      { toolCall: { toolCallId: 'call_lookup_1', index: 0, arguments: 'ris"}' } },
    ]);
    expect(events.at(-1)).toEqual({ type: 'finish', reason: 'tool-calls' });
  });

  test('response.incomplete → finish length or content-filter', async () => {
    fake.script(
      { fixture: 'responses-incomplete-length' },
      { fixture: 'responses-incomplete-content-filter' },
    );
    const model = responsesModel();
    const first = await drain(model.stream(request()));
    expect(first.events.at(-1)).toEqual({ type: 'finish', reason: 'length' });
    const second = await drain(model.stream(request({ conversationKey: 'thread-2' })));
    expect(second.events.at(-1)).toEqual({ type: 'finish', reason: 'content-filter' });
  });

  test('response.failed after text → ModelError with the code from the error, after the deltas', async () => {
    fake.script({ fixture: 'responses-failed' });
    const { events, error } = await drain(responsesModel().stream(request()));
    expect(textOf(events)).toBe('Partial answer');
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('server-error');
    expect(fake.requests).toHaveLength(1);
  });

  test('response.failed with a final code before any output is not retried', async () => {
    fake.script({ fixture: 'responses-failed-invalid-prompt' });
    const { events, error } = await drain(responsesModel().stream(request()));
    expect(events).toEqual([]);
    expect((error as ModelError).code).toBe('bad-request');
    expect((error as ModelError).retryable).toBe(false);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('remote conversation state', () => {
  test('the second turn sends previous_response_id and only the messages since the last response', async () => {
    const state = new InMemoryConversationState();
    const model = responsesModel({ conversationState: state });
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    const question = userMessage('What is Chorus?');
    const first = await drain(model.stream(request({ messages: [question] })));
    expect(first.error).toBeUndefined();

    const answer = agentMessage('researcher', textOf(first.events));
    const critique = agentMessage('critic', 'Too short.');
    const followUp = userMessage('Say more.');
    await drain(model.stream(request({ messages: [question, answer, critique, followUp] })));

    const [, second] = await fake.waitForRequests(2);
    expect(second!.body).toMatchObject({
      previous_response_id: 'resp_text_1',
      input: [
        { type: 'message', role: 'user', content: '[critic]: Too short.' },
        { type: 'message', role: 'user', content: 'Say more.' },
      ],
    });
  });

  test('each agent keeps its own chain in the same conversation', async () => {
    const model = responsesModel();
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    const question = userMessage('Hi');
    await drain(model.stream(request({ messages: [question] })));
    const answer = agentMessage('researcher', 'Hello from the Responses API.');
    await drain(
      model.stream(
        request({ agent: { name: 'critic', instructions: 'Criticise.' }, messages: [question, answer] }),
      ),
    );
    const [, second] = await fake.waitForRequests(2);
    const body = second!.body as Record<string, unknown>;
    expect(body.previous_response_id).toBeUndefined();
    expect(body.input).toEqual([
      { type: 'message', role: 'user', content: 'Hi' },
      { type: 'message', role: 'user', content: '[researcher]: Hello from the Responses API.' },
    ]);
  });

  test('a chain whose anchor message left the history starts over with the whole history', async () => {
    const model = responsesModel();
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    await drain(model.stream(request({ messages: [userMessage('First thread life')] })));
    await drain(model.stream(request({ messages: [userMessage('After a reset')] })));
    const [, second] = await fake.waitForRequests(2);
    const body = second!.body as Record<string, unknown>;
    expect(body.previous_response_id).toBeUndefined();
    expect(body.input).toEqual([{ type: 'message', role: 'user', content: 'After a reset' }]);
  });

  test('without a conversation key nothing is stored', async () => {
    fake.script({ fixture: 'responses-text' });
    const plain = request();
    delete plain.conversationKey;
    await drain(responsesModel().stream(plain));
    const [sent] = await fake.waitForRequests(1);
    expect((sent!.body as Record<string, unknown>).store).toBe(false);
  });

  test('deleteConversation deletes every stored response of the conversation and forgets it', async () => {
    const state = new InMemoryConversationState();
    const model = responsesModel({ conversationState: state });
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    const question = userMessage('Hi');
    await drain(model.stream(request({ messages: [question] })));
    await drain(
      model.stream(
        request({
          messages: [
            question,
            agentMessage('researcher', 'Hello from the Responses API.'),
            userMessage('More'),
          ],
        }),
      ),
    );
    expect(state.size).toBe(1);

    await model.deleteConversation('thread-1');
    const deletes = fake.requests
      .filter((recorded) => recorded.method === 'DELETE')
      .map((recorded) => recorded.path);
    expect(deletes).toEqual(['/v1/responses/resp_text_1', '/v1/responses/resp_text_2']);
    expect(await state.get('thread-1')).toBeNull();
  });

  test('deleteConversation keeps what it could not delete and throws; already deleted responses are fine', async () => {
    const state = new InMemoryConversationState();
    const model = responsesModel({ conversationState: state });
    fake.script({ fixture: 'responses-text' }, { fixture: 'responses-text-followup' });
    const question = userMessage('Hi');
    await drain(model.stream(request({ messages: [question] })));
    await drain(
      model.stream(
        request({
          messages: [
            question,
            agentMessage('researcher', 'Hello from the Responses API.'),
            userMessage('More'),
          ],
        }),
      ),
    );
    fake.deleteStatus = (id) => (id === 'resp_text_1' ? 404 : 400);
    await expect(model.deleteConversation('thread-1')).rejects.toMatchObject({ code: 'bad-request' });
    expect(await state.get('thread-1')).toContain('resp_text_2');
    expect(await state.get('thread-1')).not.toContain('resp_text_1');

    fake.deleteStatus = () => undefined;
    await model.deleteConversation('thread-1');
    expect(await state.get('thread-1')).toBeNull();
  });

  test('a response cancelled mid-stream is not a chain head but is deleted with the conversation', async () => {
    const model = responsesModel();
    fake.script({ fixture: 'responses-text', stallAfter: 6 }, { fixture: 'responses-text-followup' });
    const controller = new AbortController();
    const question = userMessage('Hi');
    const stream = model.stream(request({ messages: [question], signal: controller.signal }));
    const iterator = stream[Symbol.asyncIterator]();
    expect((await within(iterator.next(), 'first delta')).value).toEqual({
      type: 'delta',
      delta: { text: 'Hello' },
    });
    controller.abort(new Error('cancelled'));
    await expect(within(iterator.next(), 'the end after abort')).rejects.toThrow('cancelled');

    // The next turn cannot continue from the cancelled response: it sends the whole history.
    const partial = agentMessage('researcher', 'Hello');
    await drain(model.stream(request({ messages: [question, partial, userMessage('Go on')] })));
    const [, second] = await fake.waitForRequests(2);
    expect((second!.body as Record<string, unknown>).previous_response_id).toBeUndefined();

    await model.deleteConversation('thread-1');
    const deletes = fake.requests
      .filter((recorded) => recorded.method === 'DELETE')
      .map((recorded) => recorded.path);
    expect(deletes).toEqual(['/v1/responses/resp_text_1', '/v1/responses/resp_text_2']);
  });

  test.each([
    ['before the provider answered', { headersDelayMs: 300 }],
    ['before its first event', { delayMs: 600 }],
  ])(
    'a turn aborted %s ends at once, and the response it made is deleted when its id comes',
    async (_when, timing) => {
      const state = new InMemoryConversationState();
      const model = responsesModel({ conversationState: state });
      fake.script({ fixture: 'responses-text', ...timing });
      const controller = new AbortController();
      const iterator = model.stream(request({ signal: controller.signal }))[Symbol.asyncIterator]();
      const first = iterator.next();
      await fake.waitForRequests(1);
      controller.abort(new Error('cancelled'));
      // The turn does not wait for the provider.
      await expect(within(first, 'the end after abort', 200)).rejects.toThrow('cancelled');
      // The provider stored a response nothing knew the id of; it used to stay stored for ever.
      await within(
        (async () => {
          while (!fake.requests.some((recorded) => recorded.method === 'DELETE'))
            await new Promise((resolve) => setTimeout(resolve, 20));
        })(),
        'the orphan response deleted',
        5000,
      );
      expect(fake.requests.filter((recorded) => recorded.method === 'DELETE').map((r) => r.path)).toEqual([
        '/v1/responses/resp_text_1',
      ]);
      await fake.requests[0]!.closed;
      // A slow stream is stopped once the id is known, not read to its end.
      if ('delayMs' in timing) expect(fake.requests[0]!.aborted).toBe(true);
    },
  );

  test('deleteConversation of an unknown conversation sends nothing', async () => {
    await responsesModel().deleteConversation('never-seen');
    expect(fake.requests).toHaveLength(0);
  });
});
