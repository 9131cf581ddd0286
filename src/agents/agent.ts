// An agent: a name, instructions and a model client (the seed's ChatCompletionAgent).
// `turn()` streams one turn of the agent as typed deltas and returns the finished content.
import type { DeltaContent, Message, Part, Usage } from '../protocol/frames.ts';
import { ContentAccumulator } from '../protocol/content.ts';
import type { ModelClient, ModelEvent } from './model-client.ts';

export interface AgentOptions {
  name: string;
  description?: string;
  instructions: string;
  model: ModelClient;
  /** Cap on output tokens per model call. */
  maxOutputTokens?: number;
}

export type AgentTurnEvent = { type: 'delta'; delta: DeltaContent } | { type: 'usage'; usage: Usage };

export interface AgentTurnOptions {
  signal: AbortSignal;
  conversationKey?: string;
}

/** What a finished turn produced, whatever its outcome. */
export interface AgentTurnResult {
  text: string;
  parts: Part[];
  usage?: Usage;
}

export class Agent {
  readonly name: string;
  readonly description: string;
  readonly instructions: string;
  readonly model: ModelClient;
  readonly maxOutputTokens: number | undefined;

  constructor(options: AgentOptions) {
    this.name = options.name;
    this.description = options.description ?? '';
    this.instructions = options.instructions;
    this.model = options.model;
    this.maxOutputTokens = options.maxOutputTokens;
  }

  /**
   * Streams one turn. Yields deltas and usage as they arrive; throws on model failure and when
   * the signal aborts. The caller accumulates deltas (see ContentAccumulator).
   */
  async *turn(history: readonly Message[], options: AgentTurnOptions): AsyncGenerator<AgentTurnEvent> {
    const events: AsyncIterable<ModelEvent> = this.model.stream({
      agent: { name: this.name, instructions: this.instructions },
      messages: history,
      ...(this.maxOutputTokens === undefined ? {} : { maxOutputTokens: this.maxOutputTokens }),
      ...(options.conversationKey === undefined ? {} : { conversationKey: options.conversationKey }),
      signal: options.signal,
    });
    for await (const event of events) {
      options.signal.throwIfAborted();
      if (event.type === 'delta') yield { type: 'delta', delta: event.delta };
      else if (event.type === 'usage') yield { type: 'usage', usage: event.usage };
    }
  }

  /** Runs a turn to the end and returns its content (no streaming). */
  async complete(history: readonly Message[], options: AgentTurnOptions): Promise<AgentTurnResult> {
    const content = new ContentAccumulator();
    let usage: Usage | undefined;
    for await (const event of this.turn(history, options)) {
      if (event.type === 'delta') content.apply(event.delta);
      else usage = addUsage(usage, event.usage);
    }
    return { text: content.text, parts: content.snapshotParts(), ...(usage ? { usage } : {}) };
  }
}

export function addUsage(total: Usage | undefined, more: Usage): Usage {
  if (!total) return { ...more };
  return {
    inputTokens: total.inputTokens + more.inputTokens,
    outputTokens: total.outputTokens + more.outputTokens,
    totalTokens: total.totalTokens + more.totalTokens,
  };
}
