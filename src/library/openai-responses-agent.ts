// The seed's assistant agent with a remote thread, on the OpenAI Responses API (the successor of
// the Assistants API): the conversation is kept server-side per thread (a `previous_response_id`
// chain keyed by the thread's id), and `thread.delete()` deletes that remote state.
import type { ModelClient } from '../agents/model-client.ts';
import type { ModelSpec } from '../agents/model-factory.ts';
import { ChatAgent, type ChatAgentOptions } from './chat-completion-agent.ts';

export interface OpenAIResponsesAgentOptions extends Omit<ChatAgentOptions, 'model'> {
  /** An OpenAIResponsesModel (or another client), or its spec without the provider. */
  model: ModelClient | Omit<ModelSpec, 'provider'>;
}

export class OpenAIResponsesAgent extends ChatAgent {
  constructor(options: OpenAIResponsesAgentOptions) {
    const { model } = options;
    super({
      ...options,
      model: isClient(model) ? model : { ...model, provider: 'openai-responses' },
    });
  }
}

function isClient(model: OpenAIResponsesAgentOptions['model']): model is ModelClient {
  return typeof (model as Partial<ModelClient>).stream === 'function';
}
