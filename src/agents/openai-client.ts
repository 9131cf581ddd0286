// What both OpenAI model clients (Chat Completions and Responses) share: how the SDK client is
// built (no SDK retries — Chorus retries itself, before the first token) and the call policy.
import OpenAI from 'openai';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { Semaphore } from './concurrency.ts';
import type { ModelCallPolicy, RetryOptions } from './model-retry.ts';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAIConnectionOptions {
  apiKey: string;
  baseURL?: string | undefined;
  headers?: Record<string, string> | undefined;
  timeoutMs?: number | undefined;
  retry?: RetryOptions | undefined;
  breaker?: CircuitBreaker | undefined;
  concurrency?: Semaphore | undefined;
}

export function createOpenAIClient(options: OpenAIConnectionOptions): OpenAI {
  return new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL ?? DEFAULT_OPENAI_BASE_URL,
    organization: null,
    project: null,
    maxRetries: 0,
    timeout: options.timeoutMs ?? 120_000,
    logLevel: 'off',
    ...(options.headers ? { defaultHeaders: options.headers } : {}),
  });
}

/** The retry, timeout, breaker and concurrency policy of a client's model calls. */
export function callPolicy(options: OpenAIConnectionOptions): ModelCallPolicy {
  return {
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.breaker ? { breaker: options.breaker } : {}),
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  };
}
