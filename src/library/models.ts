// Model clients for library users: a ModelClient as is, or a spec ({ provider, model, … }) made
// by the same model factory the server uses, reading keys from the environment.
import { Semaphore } from '../agents/concurrency.ts';
import type { ModelClient } from '../agents/model-client.ts';
import { createModelClient, ModelSpec, type ModelFactoryShared } from '../agents/model-factory.ts';
import { InMemoryConversationState } from '../agents/remote-conversation-state.ts';

export type ModelInput = ModelClient | ModelSpec;

export interface CreateModelOptions {
  /** Where keys (`apiKeyEnv`, OPENAI_API_KEY), OPENAI_BASE_URL and CHORUS_MODEL are read. @default process.env */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** @default CHORUS_DEMO_TOKENS_PER_SECOND from `env`, else 40 */
  demoTokensPerSecond?: number | undefined;
  shared?: Partial<ModelFactoryShared> | undefined;
}

/** Makes a model client from a spec (validated; throws on a bad spec or a missing key). */
export function createModel(spec: ModelSpec, options: CreateModelOptions = {}): ModelClient {
  const env = options.env ?? process.env;
  const parsed = ModelSpec.safeParse(spec);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'spec'}: ${issue.message}`,
    );
    throw new Error(`invalid model spec: ${problems.join('; ')}`);
  }
  const configuredRate = Number(env['CHORUS_DEMO_TOKENS_PER_SECOND']);
  return createModelClient(parsed.data, env, {
    demoTokensPerSecond:
      options.demoTokensPerSecond ??
      (env['CHORUS_DEMO_TOKENS_PER_SECOND'] && configuredRate >= 0 ? configuredRate : 40),
    conversationState: new InMemoryConversationState(),
    concurrency: new Semaphore(Infinity),
    ...options.shared,
  });
}

export function resolveModel(model: ModelInput, options: CreateModelOptions = {}): ModelClient {
  return isModelClient(model) ? model : createModel(model, options);
}

function isModelClient(model: ModelInput): model is ModelClient {
  return typeof (model as Partial<ModelClient>).stream === 'function';
}
