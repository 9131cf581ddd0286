// The model-client port: one turn of one agent against one model, as a stream of typed events.
// Implementations: the demo model (local, deterministic), Chat Completions and Responses (openai SDK).
import type { DeltaContent, Message, Part, Usage } from '../protocol/frames.ts';

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface ModelTurnRequest {
  /** The speaking agent. */
  agent: { name: string; instructions: string };
  /** The conversation so far (finished messages, oldest first). */
  messages: readonly Message[];
  /**
   * What this agent already produced in this turn (tool calls and their results) when the model is
   * called again inside a tool loop.
   */
  turnParts?: readonly Part[] | undefined;
  tools?: readonly ToolSpec[] | undefined;
  maxOutputTokens?: number | undefined;
  /** Stable key of the conversation (the thread), for clients that keep remote state. */
  conversationKey?: string | undefined;
  signal: AbortSignal;
}

export type ModelEvent =
  | { type: 'delta'; delta: DeltaContent }
  | { type: 'usage'; usage: Usage }
  | { type: 'finish'; reason: 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'other' };

export interface ModelClient {
  /** For logs and metrics: provider and model, e.g. `demo`, `openai:gpt-5-mini`. */
  readonly id: string;
  stream(request: ModelTurnRequest): AsyncIterable<ModelEvent>;
  /** Deletes state kept remotely for a conversation (Responses API); no-op when there is none. */
  deleteConversation?: ((conversationKey: string) => Promise<void>) | undefined;
}

export { ModelError } from '../errors.ts';
