// createModelClient: specs → clients, secrets only from the environment.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CircuitBreakerRegistry } from '../../src/agents/circuit-breaker.ts';
import { Semaphore } from '../../src/agents/concurrency.ts';
import { DemoModel } from '../../src/agents/demo-model.ts';
import { createModelClient, ModelSpec, type ModelFactoryShared } from '../../src/agents/model-factory.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { OpenAIResponsesModel } from '../../src/agents/openai-responses-model.ts';
import { InMemoryConversationState } from '../../src/agents/remote-conversation-state.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { drain, userMessage } from './support.ts';

function shared(): ModelFactoryShared {
  return {
    demoTokensPerSecond: 0,
    conversationState: new InMemoryConversationState(),
    concurrency: new Semaphore(4),
    breakers: new CircuitBreakerRegistry(),
  };
}

describe('createModelClient', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await FakeOpenAI.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  test('demo needs no key', () => {
    expect(createModelClient({ provider: 'demo' }, {}, shared())).toBeInstanceOf(DemoModel);
  });

  test('openai-chat takes the key from OPENAI_API_KEY and the model from CHORUS_MODEL', async () => {
    const client = createModelClient(
      { provider: 'openai-chat', baseURL: fake.baseURL },
      { OPENAI_API_KEY: 'sk-from-env', CHORUS_MODEL: 'gpt-env' },
      shared(),
    );
    expect(client).toBeInstanceOf(OpenAIChatModel);
    expect(client.id).toBe('openai-chat:gpt-env');
    fake.script({ fixture: 'chat-text' });
    await drain(
      client.stream({
        agent: { name: 'a', instructions: '' },
        messages: [userMessage('hi')],
        signal: new AbortController().signal,
      }),
    );
    const [sent] = await fake.waitForRequests(1);
    expect(sent!.headers.authorization).toBe('Bearer sk-from-env');
    expect((sent!.body as Record<string, unknown>).model).toBe('gpt-env');
  });

  test('apiKeyEnv names another variable; OPENAI_BASE_URL is the default endpoint', async () => {
    const client = createModelClient(
      {
        provider: 'openai-responses',
        model: 'gpt-x',
        apiKeyEnv: 'TEAM_KEY',
        extra: { reasoning: { effort: 'low' } },
      },
      { TEAM_KEY: 'sk-team', OPENAI_API_KEY: 'sk-other', OPENAI_BASE_URL: fake.baseURL },
      shared(),
    );
    expect(client).toBeInstanceOf(OpenAIResponsesModel);
    fake.script({ fixture: 'responses-text' });
    await drain(
      client.stream({
        agent: { name: 'a', instructions: '' },
        messages: [userMessage('hi')],
        signal: new AbortController().signal,
      }),
    );
    const [sent] = await fake.waitForRequests(1);
    expect(sent!.headers.authorization).toBe('Bearer sk-team');
    expect(sent!.body).toMatchObject({ model: 'gpt-x', reasoning: { effort: 'low' } });
  });

  test('a missing key is a configuration error for api.openai.com and for a named variable', () => {
    expect(() => createModelClient({ provider: 'openai-chat' }, {}, shared())).toThrow(/set OPENAI_API_KEY/);
    expect(() =>
      createModelClient(
        { provider: 'openai-chat', baseURL: 'http://localhost:11434/v1', apiKeyEnv: 'OLLAMA_KEY' },
        {},
        shared(),
      ),
    ).toThrow(/set OLLAMA_KEY/);
  });

  test('a local endpoint without a key is allowed', () => {
    const client = createModelClient(
      { provider: 'openai-chat', baseURL: 'http://localhost:11434/v1', model: 'llama3' },
      {},
      shared(),
    );
    expect(client.id).toBe('openai-chat:llama3');
  });
});

describe('ModelSpec', () => {
  test('is strict: a key in the spec is refused', () => {
    expect(ModelSpec.safeParse({ provider: 'openai-chat', apiKey: 'sk-123' }).success).toBe(false);
    expect(
      ModelSpec.safeParse({ provider: 'openai-chat', model: 'gpt-5-mini', temperature: 0.3 }).success,
    ).toBe(true);
    expect(ModelSpec.safeParse({ provider: 'anthropic' }).success).toBe(false);
  });
});
