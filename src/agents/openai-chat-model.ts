// A model client over the Chat Completions API of any OpenAI-compatible endpoint (OpenAI, Azure,
// Ollama, vLLM, llama.cpp …) with the `openai` SDK, streaming (`stream: true`, usage included).
//
// History → messages (also documented in docs/agents.md):
// - the agent's instructions are the system message;
// - user messages are `user` messages with `name` = the author (sanitized to [A-Za-z0-9_-]);
// - the agent's own earlier messages are `assistant` messages; their tool calls become the
//   assistant's `tool_calls` followed by one `tool` message per result (a call without a result,
//   e.g. from a cancelled turn, is left out: the API rejects unanswered calls);
// - other agents' messages are, by default (`otherAgentsAs: 'assistant'`), `assistant` messages
//   with the other agent's `name`, tool calls included, as Semantic Kernel's group chat does.
//   Endpoints whose chat template drops `name` (many local servers) make the model take those
//   messages for its own; `otherAgentsAs: 'user'` sends them as `user` messages prefixed with
//   `[author]: ` instead (text only);
// - `turnParts` (this turn's text, tool calls and results inside a tool loop) are appended as the
//   agent's own assistant and tool messages.
import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageFunctionToolCall,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { Message, Part, Usage } from '../protocol/frames.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { Semaphore } from './concurrency.ts';
import { callPolicy, createOpenAIClient, DEFAULT_OPENAI_BASE_URL } from './openai-client.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest, ToolSpec } from './model-client.ts';
import { modelError, streamWithPolicy, type RetryOptions } from './model-retry.ts';

export interface OpenAIChatModelOptions {
  /** The API key (from the environment; see model-factory.ts). */
  apiKey: string;
  /** The endpoint, e.g. `http://localhost:11434/v1`. @default https://api.openai.com/v1 */
  baseURL?: string | undefined;
  model: string;
  temperature?: number | undefined;
  topP?: number | undefined;
  /** Cap on output tokens per call when the request does not set one. */
  maxOutputTokens?: number | undefined;
  /** Which body field carries the output cap; older servers know only `max_tokens`. @default max_completion_tokens */
  maxTokensField?: 'max_completion_tokens' | 'max_tokens' | undefined;
  /** Further body parameters, passed as they are (`reasoning_effort`, `seed` …); never override the fields Chorus sets. */
  extra?: Record<string, unknown> | undefined;
  /** Extra HTTP headers (e.g. for a gateway). */
  headers?: Record<string, string> | undefined;
  /** How other agents' messages are sent. @default assistant */
  otherAgentsAs?: 'assistant' | 'user' | undefined;
  /** Budget of one model call, retries included. @default 120000 */
  timeoutMs?: number | undefined;
  retry?: RetryOptions | undefined;
  breaker?: CircuitBreaker | undefined;
  concurrency?: Semaphore | undefined;
}

export class OpenAIChatModel implements ModelClient {
  readonly id: string;
  readonly baseURL: string;
  private readonly client: OpenAI;
  private readonly options: OpenAIChatModelOptions;

  constructor(options: OpenAIChatModelOptions) {
    this.options = options;
    this.id = `openai-chat:${options.model}`;
    this.baseURL = options.baseURL ?? DEFAULT_OPENAI_BASE_URL;
    this.client = createOpenAIClient(options);
  }

  stream(request: ModelTurnRequest): AsyncIterable<ModelEvent> {
    const body = this.body(request);
    const policy = callPolicy(this.options);
    return streamWithPolicy(policy, request.signal, (signal) => this.attempt(body, signal));
  }

  /** The request body Chorus sends for a turn (exported through the class for tests and logs). */
  body(request: ModelTurnRequest): ChatCompletionCreateParamsStreaming {
    const maxTokens = request.maxOutputTokens ?? this.options.maxOutputTokens;
    const tools = request.tools ?? [];
    return {
      ...this.options.extra,
      model: this.options.model,
      messages: chatMessages(request, this.options.otherAgentsAs ?? 'assistant'),
      stream: true,
      stream_options: { include_usage: true },
      ...(tools.length > 0 ? { tools: tools.map(chatTool) } : {}),
      ...(this.options.temperature === undefined ? {} : { temperature: this.options.temperature }),
      ...(this.options.topP === undefined ? {} : { top_p: this.options.topP }),
      ...(maxTokens === undefined
        ? {}
        : { [this.options.maxTokensField ?? 'max_completion_tokens']: maxTokens }),
    };
  }

  private async *attempt(
    body: ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
  ): AsyncGenerator<ModelEvent> {
    const stream = await this.client.chat.completions.create(body, { signal });
    yield* chatEvents(stream, signal);
  }
}

/** Maps Chat Completions chunks to model events. */
export async function* chatEvents(
  chunks: AsyncIterable<ChatCompletionChunk>,
  signal: AbortSignal,
): AsyncGenerator<ModelEvent, void, undefined> {
  // The id of a tool call arrives on the first chunk of its index only; later fragments carry
  // the index. Some compatible servers send no id at all: one is made up, stable per index.
  const toolCallIds = new Map<number, string>();
  let finished = false;
  for await (const chunk of chunks) {
    const choice = chunk.choices.find((candidate) => candidate.index === 0);
    if (choice) {
      const delta = choice.delta ?? {};
      if (delta.content) yield { type: 'delta', delta: { text: delta.content } };
      if (delta.refusal) yield { type: 'delta', delta: { refusal: delta.refusal } };
      for (const call of delta.tool_calls ?? []) {
        if (call.type === 'custom' || call.custom) continue;
        let toolCallId = toolCallIds.get(call.index);
        const first = toolCallId === undefined;
        if (toolCallId === undefined) {
          toolCallId = call.id || `call_${call.index}_${randomUUID().slice(0, 8)}`;
          toolCallIds.set(call.index, toolCallId);
        }
        const name = call.function?.name;
        const fragment = call.function?.arguments;
        if (first || name || fragment) {
          yield {
            type: 'delta',
            delta: {
              toolCall: {
                toolCallId,
                index: call.index,
                ...(name ? { name } : {}),
                ...(fragment ? { arguments: fragment } : {}),
              },
            },
          };
        }
      }
      if (choice.finish_reason) {
        finished = true;
        yield { type: 'finish', reason: finishReason(choice.finish_reason) };
      }
    }
    if (chunk.usage) yield { type: 'usage', usage: chatUsage(chunk.usage) };
  }
  // The SDK ends its iteration quietly when the request is aborted.
  signal.throwIfAborted();
  if (!finished) {
    throw modelError('connection', true, { message: 'the model stream ended before the model finished' });
  }
}

function finishReason(
  reason: NonNullable<ChatCompletionChunk.Choice['finish_reason']>,
): Extract<ModelEvent, { type: 'finish' }>['reason'] {
  switch (reason) {
    case 'stop':
      return 'stop';
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'other';
  }
}

function chatUsage(usage: NonNullable<ChatCompletionChunk['usage']>): Usage {
  const inputTokens = usage.prompt_tokens ?? 0;
  const outputTokens = usage.completion_tokens ?? 0;
  return { inputTokens, outputTokens, totalTokens: usage.total_tokens ?? inputTokens + outputTokens };
}

function chatTool(tool: ToolSpec): ChatCompletionTool {
  return {
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  };
}

/** The messages of a turn: system instructions, the history, then this turn's parts. */
export function chatMessages(
  request: Pick<ModelTurnRequest, 'agent' | 'messages' | 'turnParts'>,
  otherAgentsAs: 'assistant' | 'user' = 'assistant',
): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  if (request.agent.instructions) messages.push({ role: 'system', content: request.agent.instructions });
  for (const message of request.messages) {
    if (message.role !== 'assistant') {
      if (!message.text) continue;
      const name = participantName(message.author);
      messages.push({ role: 'user', content: message.text, ...(name ? { name } : {}) });
    } else if (message.author === request.agent.name) {
      messages.push(...assistantMessages(partsOf(message)));
    } else if (otherAgentsAs === 'assistant') {
      messages.push(...assistantMessages(partsOf(message), participantName(message.author)));
    } else {
      const text = textOf(partsOf(message));
      if (!text) continue;
      const name = participantName(message.author);
      messages.push({ role: 'user', content: `[${message.author}]: ${text}`, ...(name ? { name } : {}) });
    }
  }
  if (request.turnParts && request.turnParts.length > 0)
    messages.push(...assistantMessages(request.turnParts));
  return messages;
}

/** A message's parts; a message stored without parts is its text. */
export function partsOf(message: Message): readonly Part[] {
  const parts = message.parts ?? [];
  if (message.text && !parts.some((part) => part.type === 'text'))
    return [{ type: 'text', text: message.text }, ...parts];
  return parts;
}

function textOf(parts: readonly Part[]): string {
  return parts.map((part) => (part.type === 'text' ? part.text : '')).join('');
}

/**
 * An assistant's parts as `assistant` messages (text and tool calls) each followed by the `tool`
 * messages that answer its calls. Calls without a result and results without a call are dropped.
 */
function assistantMessages(parts: readonly Part[], name?: string): ChatCompletionMessageParam[] {
  const called = new Set<string>();
  const answered = new Set<string>();
  for (const part of parts) {
    if (part.type === 'tool-call') called.add(part.toolCallId);
    if (part.type === 'tool-result') answered.add(part.toolCallId);
  }
  const out: ChatCompletionMessageParam[] = [];
  let text = '';
  let calls: ChatCompletionMessageFunctionToolCall[] = [];
  const flush = () => {
    if (text || calls.length > 0) {
      out.push({
        role: 'assistant',
        content: text || null,
        ...(name ? { name } : {}),
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      });
    }
    text = '';
    calls = [];
  };
  for (const part of parts) {
    if (part.type === 'text') {
      text += part.text;
    } else if (part.type === 'tool-call' && answered.has(part.toolCallId)) {
      calls.push({
        id: part.toolCallId,
        type: 'function',
        function: { name: part.name, arguments: part.arguments || '{}' },
      });
    } else if (part.type === 'tool-result' && called.has(part.toolCallId)) {
      flush();
      out.push({ role: 'tool', tool_call_id: part.toolCallId, content: part.output });
    }
  }
  flush();
  return out;
}

/** `name` as the API accepts it: [A-Za-z0-9_-], at most 64 characters; undefined when nothing is left. */
export function participantName(author: string): string | undefined {
  const name = author.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return /[A-Za-z0-9]/.test(name) ? name : undefined;
}
