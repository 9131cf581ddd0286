// Retries, error codes and the circuit breaker, through OpenAIChatModel against the fake server.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { CircuitBreaker } from '../../src/agents/circuit-breaker.ts';
import { ModelError, type ModelTurnRequest } from '../../src/agents/model-client.ts';
import { backoffDelay, parseRetryAfter, type RetryOptions } from '../../src/agents/model-retry.ts';
import { OpenAIChatModel, type OpenAIChatModelOptions } from '../../src/agents/openai-chat-model.ts';
import { OpenAIResponsesModel } from '../../src/agents/openai-responses-model.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { drain, textOf, userMessage } from './support.ts';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

/** Retry options whose waits are recorded and skipped. */
function recordedRetry(options: RetryOptions = {}): { retry: RetryOptions; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    retry: {
      ...options,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    },
  };
}

function chatModel(options: Partial<OpenAIChatModelOptions> = {}): OpenAIChatModel {
  return new OpenAIChatModel({ apiKey: 'sk-test', baseURL: fake.baseURL, model: 'gpt-test', ...options });
}

function request(): ModelTurnRequest {
  return {
    agent: { name: 'a', instructions: 'i' },
    messages: [userMessage('hi')],
    signal: new AbortController().signal,
  };
}

describe('retries before the first event', () => {
  test('429 with Retry-After: 1 waits one second, then succeeds', async () => {
    const { retry, delays } = recordedRetry();
    fake.script({ status: 429, headers: { 'retry-after': '1' } }, { fixture: 'chat-text' });
    const { events, error } = await drain(chatModel({ retry }).stream(request()));
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe('Hello from Chorus.');
    expect(delays).toEqual([1000]);
    expect(fake.requests).toHaveLength(2);
  });

  test('retry-after-ms is honoured in real time', async () => {
    fake.script({ status: 429, headers: { 'retry-after-ms': '150' } }, { fixture: 'chat-text' });
    const started = performance.now();
    const { error } = await drain(chatModel().stream(request()));
    expect(error).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(fake.requests).toHaveLength(2);
  });

  test('a Retry-After beyond maxRetryAfterMs is not waited for', async () => {
    const { retry, delays } = recordedRetry({ maxRetryAfterMs: 5000 });
    fake.script({ status: 429, headers: { 'retry-after': '60' } });
    const { error } = await drain(chatModel({ retry }).stream(request()));
    expect((error as ModelError).code).toBe('rate-limited');
    expect((error as ModelError).retryAfterMs).toBe(60_000);
    expect(delays).toEqual([]);
  });

  test('500 then success, after a jittered backoff below the ceiling', async () => {
    const { retry, delays } = recordedRetry({ baseDelayMs: 200, random: () => 0.5 });
    fake.script({ status: 500 }, { status: 503 }, { fixture: 'chat-text' });
    const { events, error } = await drain(chatModel({ retry }).stream(request()));
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe('Hello from Chorus.');
    expect(delays).toEqual([100, 200]);
    expect(fake.requests).toHaveLength(3);
  });

  test('gives up after maxAttempts with the last error', async () => {
    const { retry } = recordedRetry({ maxAttempts: 2 });
    fake.script({ status: 502 }, { status: 500 });
    const { error } = await drain(chatModel({ retry }).stream(request()));
    expect(error).toMatchObject({ code: 'server-error', retryable: true });
    expect(fake.requests).toHaveLength(2);
  });

  test.each([
    [400, 'bad-request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not-found'],
  ])('%i is never retried (%s)', async (status, code) => {
    const { retry, delays } = recordedRetry();
    fake.script({ status }, { fixture: 'chat-text' });
    const { events, error } = await drain(chatModel({ retry }).stream(request()));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code, retryable: false });
    expect(delays).toEqual([]);
    expect(fake.requests).toHaveLength(1);
  });

  test('429 insufficient_quota is final', async () => {
    fake.script({
      status: 429,
      body: {
        error: {
          message: 'You exceeded your current quota',
          type: 'insufficient_quota',
          code: 'insufficient_quota',
        },
      },
    });
    const { error } = await drain(chatModel().stream(request()));
    expect(error).toMatchObject({ code: 'quota-exceeded', retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  test('a connection refused is retried and reported as connection', async () => {
    const { retry, delays } = recordedRetry({ maxAttempts: 2 });
    const closed = await FakeOpenAI.start();
    const baseURL = closed.baseURL;
    await closed.close();
    const { error } = await drain(chatModel({ retry, baseURL }).stream(request()));
    expect(error).toMatchObject({ code: 'connection', retryable: true });
    expect(delays).toHaveLength(1);
  });

  test('the Responses client retries the same way', async () => {
    const { retry, delays } = recordedRetry();
    fake.script({ status: 429, headers: { 'retry-after-ms': '5' } }, { fixture: 'responses-text' });
    const model = new OpenAIResponsesModel({
      apiKey: 'sk-test',
      baseURL: fake.baseURL,
      model: 'gpt-test',
      retry,
    });
    const { events, error } = await drain(model.stream({ ...request(), conversationKey: 't' }));
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe('Hello from the Responses API.');
    expect(delays).toEqual([5]);
  });

  test('the messages stored for viewers are generic, the provider detail stays in the cause', async () => {
    fake.script({
      status: 401,
      body: {
        error: {
          message: 'Incorrect API key provided: sk-abc***xyz',
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      },
    });
    const { error } = await drain(chatModel().stream(request()));
    expect((error as ModelError).message).toBe('the model provider rejected the credentials');
    expect(String((error as ModelError).cause)).toContain('Incorrect API key');
  });
});

describe('Retry-After parsing and backoff', () => {
  test('seconds, HTTP date, retry-after-ms, garbage', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(new Headers(), now)).toBeUndefined();
  });

  test('full jitter under a capped exponential ceiling', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999 };
    expect(backoffDelay(1, options)).toBe(99);
    expect(backoffDelay(3, options)).toBe(399);
    expect(backoffDelay(10, options)).toBe(999);
    expect(backoffDelay(10, { ...options, random: () => 0 })).toBe(0);
  });
});

describe('circuit breaker', () => {
  test('opens after consecutive failures, fails fast with unavailable, closes after a good trial', async () => {
    let now = 1_000_000;
    const breaker = new CircuitBreaker('openai-chat test', {
      failureThreshold: 2,
      cooldownMs: 10_000,
      now: () => now,
    });
    const model = chatModel({ breaker, retry: { maxAttempts: 1 } });
    fake.script({ status: 500 }, { status: 500 });
    expect((await drain(model.stream(request()))).error).toMatchObject({ code: 'server-error' });
    expect(breaker.state).toBe('closed');
    expect((await drain(model.stream(request()))).error).toMatchObject({ code: 'server-error' });
    expect(breaker.state).toBe('open');

    const refused = (await drain(model.stream(request()))).error;
    expect(refused).toMatchObject({ code: 'unavailable', retryable: true, retryAfterMs: 10_000 });
    expect(fake.requests).toHaveLength(2);

    now += 10_000;
    expect(breaker.state).toBe('half-open');
    fake.script({ fixture: 'chat-text' });
    expect((await drain(model.stream(request()))).error).toBeUndefined();
    expect(breaker.state).toBe('closed');
  });

  test('a failed half-open trial opens the circuit again; client errors do not count', async () => {
    let now = 0;
    const breaker = new CircuitBreaker('b', { failureThreshold: 1, cooldownMs: 100, now: () => now });
    const model = chatModel({ breaker, retry: { maxAttempts: 1 } });
    fake.script({ status: 400 }, { status: 400 });
    await drain(model.stream(request()));
    await drain(model.stream(request()));
    expect(breaker.state).toBe('closed');

    fake.script({ status: 503 }, { status: 503 });
    await drain(model.stream(request()));
    expect(breaker.state).toBe('open');
    now += 100;
    await drain(model.stream(request()));
    expect(breaker.state).toBe('open');
    expect((await drain(model.stream(request()))).error).toMatchObject({ code: 'unavailable' });
  });
});
