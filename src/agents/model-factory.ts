// Builds a ModelClient from a model spec (as a team file or the default team states it). Secrets
// come only from the environment: a spec names the variable holding the key, never the key.
import { z } from 'zod';
import { CircuitBreakerRegistry } from './circuit-breaker.ts';
import type { Semaphore } from './concurrency.ts';
import { DemoModel } from './demo-model.ts';
import type { ModelClient } from './model-client.ts';
import type { RetryOptions } from './model-retry.ts';
import { OpenAIChatModel } from './openai-chat-model.ts';
import { OpenAIResponsesModel } from './openai-responses-model.ts';
import type { RemoteConversationState } from './remote-conversation-state.ts';

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const DEFAULT_MODEL = 'gpt-5-mini';

/**
 * A model spec:
 * - `provider`: `demo` (the local deterministic demo model; no key, no network), `openai-chat`
 *   (Chat Completions on any OpenAI-compatible endpoint) or `openai-responses` (the Responses
 *   API, conversation state kept server-side).
 * - `model`: the model name. @default `CHORUS_MODEL`, else `gpt-5-mini`
 * - `baseURL`: the endpoint, e.g. `http://localhost:11434/v1`. @default `OPENAI_BASE_URL`, else
 *   `https://api.openai.com/v1`
 * - `apiKeyEnv`: the environment variable that holds the API key. @default `OPENAI_API_KEY`.
 *   The key is required for api.openai.com and whenever `apiKeyEnv` is given; a custom `baseURL`
 *   without a key (a local server) gets a placeholder.
 * - `temperature`, `topP`: sampling.
 * - `maxOutputTokens`: output cap per model call.
 * - `maxTokensField` (openai-chat): `max_completion_tokens` (default) or `max_tokens` for older servers.
 * - `otherAgentsAs` (openai-chat): how other agents' messages are sent, `assistant` (default,
 *   with their `name`) or `user` (prefixed `[name]: `) for servers that ignore `name`.
 * - `timeoutMs`: budget of one model call, retries included. @default 120000
 * - `extra`: further request body parameters passed as they are (`reasoning_effort`, `seed`,
 *   `reasoning: { summary: 'auto' }` …). Never put secrets here.
 */
export const ModelSpec = z.strictObject({
  provider: z.enum(['demo', 'openai-chat', 'openai-responses']),
  model: z.string().min(1).max(200).optional(),
  baseURL: z.url().optional(),
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')
    .max(200)
    .optional(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  maxTokensField: z.enum(['max_completion_tokens', 'max_tokens']).optional(),
  otherAgentsAs: z.enum(['assistant', 'user']).optional(),
  timeoutMs: z.number().int().positive().optional(),
  extra: z.record(z.string(), z.unknown()).optional(),
});
export type ModelSpec = z.infer<typeof ModelSpec>;

/** What all model clients of an instance share. */
export interface ModelFactoryShared {
  /** The demo model's speed (CHORUS_DEMO_TOKENS_PER_SECOND). */
  demoTokensPerSecond: number;
  /** Where Responses chains are kept (Redis-backed on a server, so any instance continues a thread). */
  conversationState: RemoteConversationState;
  /** The instance's cap on concurrent model streams. */
  concurrency: Semaphore;
  /** Circuit breakers per provider endpoint; pass one registry for all clients of an instance. */
  breakers?: CircuitBreakerRegistry | undefined;
  retry?: RetryOptions | undefined;
}

/** Throws (a configuration error, at start-up) when a required key is missing. */
export function createModelClient(
  spec: ModelSpec,
  env: Readonly<Record<string, string | undefined>>,
  shared: ModelFactoryShared,
): ModelClient {
  if (spec.provider === 'demo') return new DemoModel({ tokensPerSecond: shared.demoTokensPerSecond });

  const baseURL = spec.baseURL ?? nonEmpty(env['OPENAI_BASE_URL']) ?? DEFAULT_OPENAI_BASE_URL;
  const keyVariable = spec.apiKeyEnv ?? 'OPENAI_API_KEY';
  let apiKey = nonEmpty(env[keyVariable]);
  if (apiKey === undefined) {
    if (spec.apiKeyEnv !== undefined || isOpenAI(baseURL)) {
      throw new Error(`model ${spec.provider} at ${baseURL}: the API key is missing; set ${keyVariable}`);
    }
    apiKey = 'no-key'; // a local server that wants none; the SDK requires some value
  }
  const breakers = shared.breakers ?? new CircuitBreakerRegistry();
  const common = {
    apiKey,
    baseURL,
    model: spec.model ?? nonEmpty(env['CHORUS_MODEL']) ?? DEFAULT_MODEL,
    breaker: breakers.get(`${spec.provider} ${baseURL}`),
    concurrency: shared.concurrency,
    ...(spec.temperature === undefined ? {} : { temperature: spec.temperature }),
    ...(spec.topP === undefined ? {} : { topP: spec.topP }),
    ...(spec.maxOutputTokens === undefined ? {} : { maxOutputTokens: spec.maxOutputTokens }),
    ...(spec.timeoutMs === undefined ? {} : { timeoutMs: spec.timeoutMs }),
    ...(spec.extra === undefined ? {} : { extra: spec.extra }),
    ...(shared.retry === undefined ? {} : { retry: shared.retry }),
  };
  if (spec.provider === 'openai-chat') {
    return new OpenAIChatModel({
      ...common,
      ...(spec.maxTokensField === undefined ? {} : { maxTokensField: spec.maxTokensField }),
      ...(spec.otherAgentsAs === undefined ? {} : { otherAgentsAs: spec.otherAgentsAs }),
    });
  }
  return new OpenAIResponsesModel({ ...common, conversationState: shared.conversationState });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function isOpenAI(baseURL: string): boolean {
  try {
    return new URL(baseURL).hostname.endsWith('openai.com');
  } catch {
    return false; // not a URL: the SDK will fail on the first call with `connection`
  }
}
