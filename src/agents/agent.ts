// An agent: a name, instructions, a model client and tools (the seed's ChatCompletionAgent).
// `turn()` streams one turn of the agent as typed deltas. When the model asks for tools, the turn
// runs them (parallel calls in parallel), streams each result as a `toolResult` delta and calls
// the model again with what the turn produced so far (`turnParts`), until the model answers
// without calling a tool or `maxToolRounds` is exceeded.
import type { DeltaContent, Message, Part, Usage } from '../protocol/frames.ts';
import { ContentAccumulator } from '../protocol/content.ts';
import { ModelError } from '../errors.ts';
import type { ModelClient, ToolSpec } from './model-client.ts';
import { toolSpec, type Tool, type ToolOutcome } from './tools.ts';

export interface AgentOptions {
  name: string;
  description?: string | undefined;
  instructions: string;
  model: ModelClient;
  /** Cap on output tokens per model call. */
  maxOutputTokens?: number | undefined;
  /** The tools this agent may call; a call naming any other tool gets an `unknown tool` error result. */
  tools?: readonly Tool[] | undefined;
  /** Tool rounds (model asks → tools run → model again) per turn. @default 5 */
  maxToolRounds?: number | undefined;
}

export type AgentTurnEvent = { type: 'delta'; delta: DeltaContent } | { type: 'usage'; usage: Usage };

export interface AgentTurnOptions {
  signal: AbortSignal;
  conversationKey?: string | undefined;
}

/** What a finished turn produced, whatever its outcome. */
export interface AgentTurnResult {
  text: string;
  parts: Part[];
  usage?: Usage | undefined;
}

interface PendingCall {
  toolCallId: string;
  name: string;
  arguments: string;
}

export class Agent {
  readonly name: string;
  readonly description: string;
  readonly instructions: string;
  readonly model: ModelClient;
  readonly maxOutputTokens: number | undefined;
  readonly tools: readonly Tool[];
  readonly maxToolRounds: number;
  private readonly toolsByName: ReadonlyMap<string, Tool>;
  private readonly toolSpecs: readonly ToolSpec[];

  constructor(options: AgentOptions) {
    this.name = options.name;
    this.description = options.description ?? '';
    this.instructions = options.instructions;
    this.model = options.model;
    this.maxOutputTokens = options.maxOutputTokens;
    this.tools = options.tools ?? [];
    this.maxToolRounds = options.maxToolRounds ?? 5;
    const byName = new Map<string, Tool>();
    for (const tool of this.tools) {
      if (byName.has(tool.name)) throw new Error(`agent "${this.name}": tool "${tool.name}" is listed twice`);
      byName.set(tool.name, tool);
    }
    this.toolsByName = byName;
    this.toolSpecs = this.tools.map(toolSpec);
  }

  /**
   * Streams one turn. Yields deltas (text, tool calls, tool results …) and usage as they arrive;
   * throws ModelError on a model failure (code `tool-rounds-exceeded` when the model keeps
   * calling tools) and `signal.reason` when the signal aborts. The caller accumulates deltas (see
   * ContentAccumulator).
   */
  async *turn(history: readonly Message[], options: AgentTurnOptions): AsyncGenerator<AgentTurnEvent> {
    const { signal } = options;
    const turn = new ContentAccumulator();
    for (let round = 0; ; round += 1) {
      signal.throwIfAborted();
      const calls = new Map<string, PendingCall>();
      const events = this.model.stream({
        agent: { name: this.name, instructions: this.instructions },
        messages: history,
        ...(round > 0 ? { turnParts: turn.snapshotParts() } : {}),
        ...(this.toolSpecs.length > 0 ? { tools: this.toolSpecs } : {}),
        ...(this.maxOutputTokens === undefined ? {} : { maxOutputTokens: this.maxOutputTokens }),
        ...(options.conversationKey === undefined ? {} : { conversationKey: options.conversationKey }),
        signal,
      });
      for await (const event of events) {
        signal.throwIfAborted();
        if (event.type === 'delta') {
          turn.apply(event.delta);
          const call = event.delta.toolCall;
          if (call) {
            const pending = calls.get(call.toolCallId) ?? {
              toolCallId: call.toolCallId,
              name: '',
              arguments: '',
            };
            if (call.name && !pending.name) pending.name = call.name;
            if (call.arguments) pending.arguments += call.arguments;
            calls.set(call.toolCallId, pending);
          }
          yield { type: 'delta', delta: event.delta };
        } else if (event.type === 'usage') {
          yield { type: 'usage', usage: event.usage };
        }
      }
      signal.throwIfAborted();
      // Some compatible servers finish with `stop` although they called tools: calls decide.
      if (calls.size === 0) return;
      if (round >= this.maxToolRounds) {
        throw new ModelError(
          'tool-rounds-exceeded',
          `the agent kept calling tools after ${this.maxToolRounds} rounds`,
          false,
        );
      }
      // Parallel calls run in parallel; results are streamed in call order as they are ready.
      const outcomes = [...calls.values()].map((call) => ({
        call,
        outcome: settle(this.runTool(call, signal)),
      }));
      for (const { call, outcome } of outcomes) {
        const settled = await outcome;
        if (!settled.ok) throw settled.error;
        const result = settled.value;
        const delta: DeltaContent = {
          toolResult: {
            toolCallId: call.toolCallId,
            name: call.name,
            output: result.output,
            ...(result.isError ? { isError: true } : {}),
          },
        };
        turn.apply(delta);
        yield { type: 'delta', delta };
      }
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

  private runTool(call: PendingCall, signal: AbortSignal): Promise<ToolOutcome> {
    const tool = this.toolsByName.get(call.name);
    if (!tool) return Promise.resolve({ output: `error: unknown tool "${call.name}"`, isError: true });
    return tool.invoke(call.arguments, { signal });
  }
}

/** A promise that never rejects, so that awaiting parallel work in order leaves no rejection unhandled. */
function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

export function addUsage(total: Usage | undefined, more: Usage): Usage {
  if (!total) return { ...more };
  return {
    inputTokens: total.inputTokens + more.inputTokens,
    outputTokens: total.outputTokens + more.outputTokens,
    totalTokens: total.totalTokens + more.totalTokens,
  };
}
