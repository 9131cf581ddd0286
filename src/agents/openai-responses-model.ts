// A model client over the OpenAI Responses API (the successor of the Assistants API), keeping
// the conversation server-side: each agent's turns form a `previous_response_id` chain, and a
// turn sends only what the chain does not hold yet — the messages since this agent's last
// response, or, inside a tool loop, the outputs of the calls the last response made.
//
// Per conversation key (the thread) one RemoteConversationState entry holds, per agent, the
// chain's newest response, the history message it was anchored after and every response id of
// the chain (so that `deleteConversation` can delete them all). When the chain cannot be trusted
// (no entry, the anchor message is gone from the history, a tool round was left unanswered),
// the turn starts a new chain with the whole history: never a silent gap.
//
// History → input items: user messages and other agents' messages (prefixed `[author]: `, text
// only — Responses messages carry no `name`) are `user` messages; the agent's own messages are
// `assistant` messages with their `function_call` / `function_call_output` items.
import OpenAI from 'openai';
import type {
  FunctionTool,
  ResponseCreateParamsStreaming,
  ResponseInputItem,
  ResponseOutputTextAnnotationAddedEvent,
  ResponseStreamEvent,
  ResponseUsage,
} from 'openai/resources/responses/responses';
import { z } from 'zod';
import type { Annotation, DeltaContent, Message, Part, Usage } from '../protocol/frames.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { Semaphore } from './concurrency.ts';
import { callPolicy, createOpenAIClient, DEFAULT_OPENAI_BASE_URL } from './openai-client.ts';
import {
  ModelError,
  type ModelClient,
  type ModelEvent,
  type ModelTurnRequest,
  type ToolSpec,
} from './model-client.ts';
import {
  fromErrorCode,
  modelError,
  streamWithPolicy,
  toModelError,
  type RetryOptions,
} from './model-retry.ts';
import { partsOf } from './openai-chat-model.ts';
import { raceAbort } from './tools.ts';
import { InMemoryConversationState, type RemoteConversationState } from './remote-conversation-state.ts';

export interface OpenAIResponsesModelOptions {
  /** The API key (from the environment; see model-factory.ts). */
  apiKey: string;
  /** @default https://api.openai.com/v1 */
  baseURL?: string | undefined;
  model: string;
  temperature?: number | undefined;
  topP?: number | undefined;
  /** Cap on output tokens per call when the request does not set one. */
  maxOutputTokens?: number | undefined;
  /** Further body parameters, e.g. `{ reasoning: { effort: 'low', summary: 'auto' } }` for reasoning summaries. */
  extra?: Record<string, unknown> | undefined;
  headers?: Record<string, string> | undefined;
  /** Where the chains are kept. @default in memory (lost on restart: the next turn starts a new chain) */
  conversationState?: RemoteConversationState | undefined;
  /** Budget of one model call, retries included. @default 120000 */
  timeoutMs?: number | undefined;
  retry?: RetryOptions | undefined;
  breaker?: CircuitBreaker | undefined;
  concurrency?: Semaphore | undefined;
}

const AgentChain = z.object({
  /** The chain's newest finished response: the next call's `previous_response_id` (null: none yet). */
  responseId: z.string().nullable(),
  /** The last history message the newest response saw (null: the history was empty). */
  afterMessageId: z.string().nullable(),
  /** How many `turnParts` the newest response saw. */
  turnPartCount: z.number().int().nonnegative(),
  /** Calls the newest response made; the next call must answer them. */
  openCallIds: z.array(z.string()),
  /**
   * Every response the agent created in this conversation (recorded on `response.created`, so
   * that cancelled and failed ones are deleted too).
   */
  responseIds: z.array(z.string()),
});
type AgentChain = z.infer<typeof AgentChain>;
const ConversationChains = z.object({ v: z.literal(1), agents: z.record(z.string(), AgentChain) });
type ConversationChains = z.infer<typeof ConversationChains>;

/** How a turn continues the remote state. */
interface TurnPlan {
  previousResponseId: string | undefined;
  input: ResponseInputItem[];
}

export class OpenAIResponsesModel implements ModelClient {
  readonly id: string;
  readonly baseURL: string;
  private readonly client: OpenAI;
  private readonly options: OpenAIResponsesModelOptions;
  private readonly state: RemoteConversationState;

  constructor(options: OpenAIResponsesModelOptions) {
    this.options = options;
    this.id = `openai-responses:${options.model}`;
    this.baseURL = options.baseURL ?? DEFAULT_OPENAI_BASE_URL;
    this.state = options.conversationState ?? new InMemoryConversationState();
    this.client = createOpenAIClient(options);
  }

  stream(request: ModelTurnRequest): AsyncIterable<ModelEvent> {
    const policy = callPolicy(this.options);
    return streamWithPolicy(policy, request.signal, (signal) => this.attempt(request, signal));
  }

  /**
   * Deletes every stored response of the conversation's chains and forgets them. Responses that
   * could not be deleted stay recorded (a later call retries them) and the call throws.
   */
  async deleteConversation(conversationKey: string, signal?: AbortSignal): Promise<void> {
    const chains = await this.readChains(conversationKey);
    if (!chains) return;
    let failures = 0;
    let lastError: unknown;
    for (const chain of Object.values(chains.agents)) {
      const kept: string[] = [];
      for (const responseId of chain.responseIds) {
        signal?.throwIfAborted();
        try {
          await this.client.responses.delete(responseId, { maxRetries: 2, ...(signal ? { signal } : {}) });
        } catch (error) {
          if (error instanceof OpenAI.NotFoundError) continue; // already gone (expired or deleted)
          kept.push(responseId);
          lastError = error;
        }
      }
      chain.responseIds = kept;
      failures += kept.length;
    }
    if (failures === 0) {
      await this.state.delete(conversationKey);
      return;
    }
    await this.state.set(conversationKey, JSON.stringify(chains));
    const cause = toModelError(lastError);
    throw new ModelError(cause.code, `could not delete ${failures} stored response(s)`, cause.retryable, {
      cause: lastError,
    });
  }

  private async *attempt(request: ModelTurnRequest, signal: AbortSignal): AsyncGenerator<ModelEvent> {
    const key = request.conversationKey;
    const agentName = request.agent.name;
    const chains = key === undefined ? undefined : await this.readChains(key);
    const chain = chains?.agents[agentName];
    const plan = planTurn(request, chain);
    const tools = request.tools ?? [];
    const maxTokens = request.maxOutputTokens ?? this.options.maxOutputTokens;
    const body: ResponseCreateParamsStreaming = {
      ...this.options.extra,
      model: this.options.model,
      ...(request.agent.instructions ? { instructions: request.agent.instructions } : {}),
      ...(plan.input.length > 0 ? { input: plan.input } : {}),
      ...(plan.previousResponseId ? { previous_response_id: plan.previousResponseId } : {}),
      // Without a conversation key nothing could continue or delete a stored response.
      store: key !== undefined,
      stream: true,
      ...(tools.length > 0 ? { tools: tools.map(responsesTool) } : {}),
      ...(this.options.temperature === undefined ? {} : { temperature: this.options.temperature }),
      ...(this.options.topP === undefined ? {} : { top_p: this.options.topP }),
      ...(maxTokens === undefined ? {} : { max_output_tokens: maxTokens }),
    };
    // The request has its own abort: a response the provider stored is named only by the
    // stream's first event, and a turn aborted before it (a cancel right after the post) would
    // leave a stored response no one knows of. Then the request lives on in the background until
    // that event (ORPHAN_GRACE_MS at most) and the response is deleted; the turn ends at once.
    const http = new AbortController();
    let named = false;
    const stopRequest = () => {
      if (named || key === undefined) http.abort(signal.reason);
    };
    signal.addEventListener('abort', stopRequest, { once: true });
    const creating = this.client.responses.create(body, { signal: http.signal });
    let iterator: AsyncIterator<ResponseStreamEvent> | undefined;
    /** The read in flight: when the turn is aborted during it, its event is the orphan's. */
    let inFlight: Promise<IteratorResult<ResponseStreamEvent>> | undefined;
    const read = () => (inFlight = iterator!.next());
    const abandon = (first: () => Promise<IteratorResult<ResponseStreamEvent>>) => {
      signal.removeEventListener('abort', stopRequest);
      if (signal.aborted && !named && key !== undefined) void this.deleteOrphan(first, read, http);
      else http.abort();
    };
    try {
      iterator = (await raceAbort(creating, signal))[Symbol.asyncIterator]();
    } catch (error) {
      abandon(async () => {
        iterator = (await creating)[Symbol.asyncIterator]();
        return read();
      });
      throw error;
    }
    const stream: AsyncIterable<ResponseStreamEvent> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const result = await raceAbort(read(), signal);
          inFlight = undefined;
          return result;
        },
      }),
    };

    // The conversation's chains as read above, updated and saved as the response progresses.
    const updated: ConversationChains = chains ?? { v: 1, agents: {} };
    const record = (): AgentChain =>
      (updated.agents[agentName] ??= {
        responseId: null,
        afterMessageId: null,
        turnPartCount: 0,
        openCallIds: [],
        responseIds: [],
      });
    const save = async () => {
      if (key === undefined) return;
      try {
        await this.state.set(key, JSON.stringify(updated));
      } catch (error) {
        throw modelError('state-unavailable', false, {
          cause: error,
          message: 'the conversation state could not be saved',
        });
      }
    };
    const hooks: ResponseHooks = {
      created: async (responseId) => {
        named = true;
        const current = record();
        if (!current.responseIds.includes(responseId)) current.responseIds.push(responseId);
        await save();
      },
      finished: async (responseId, openCallIds) => {
        const current = record();
        current.responseId = responseId;
        current.afterMessageId = request.messages.at(-1)?.id ?? null;
        current.turnPartCount = request.turnParts?.length ?? 0;
        current.openCallIds = [...openCallIds];
        if (!current.responseIds.includes(responseId)) current.responseIds.push(responseId);
        await save();
      },
    };
    try {
      yield* responsesEvents(stream, signal, hooks);
    } finally {
      abandon(() => inFlight ?? read());
    }
  }

  /**
   * Reads an abandoned response stream (`first` gives its next event, `read` the ones after) until
   * the event that names the response, then stops it and deletes the response; gives up after
   * ORPHAN_GRACE_MS.
   */
  private async deleteOrphan(
    first: () => Promise<IteratorResult<ResponseStreamEvent>>,
    read: () => Promise<IteratorResult<ResponseStreamEvent>>,
    http: AbortController,
  ): Promise<void> {
    const timer = setTimeout(() => http.abort(), ORPHAN_GRACE_MS);
    try {
      let next = first;
      for (let events = 0; events < 100; events += 1) {
        const { value, done } = await next();
        if (done) return;
        if (value.type === 'response.created') {
          http.abort();
          await this.client.responses.delete(value.response.id, { maxRetries: 2 });
          return;
        }
        next = read;
      }
    } catch {
      // Aborted before the event came, or the provider failed: nothing more can be learned.
    } finally {
      clearTimeout(timer);
      http.abort();
    }
  }

  private async readChains(key: string): Promise<ConversationChains | undefined> {
    let raw: string | null;
    try {
      raw = await this.state.get(key);
    } catch (error) {
      throw modelError('state-unavailable', true, {
        cause: error,
        message: 'the conversation state could not be read',
      });
    }
    if (raw === null) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined; // unreadable state: start new chains
    }
    const parsed = ConversationChains.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  }
}

/** Decides the turn's `previous_response_id` and input items from the agent's chain. */
export function planTurn(
  request: Pick<ModelTurnRequest, 'agent' | 'messages' | 'turnParts'>,
  chain: AgentChain | undefined,
): TurnPlan {
  const agentName = request.agent.name;
  const turnParts = request.turnParts ?? [];
  const lastMessageId = request.messages.at(-1)?.id ?? null;

  if (chain?.responseId) {
    const previousResponseId = chain.responseId;
    // Inside a tool loop: the chain holds the calls; send their outputs.
    if (
      turnParts.length > 0 &&
      chain.afterMessageId === lastMessageId &&
      chain.turnPartCount <= turnParts.length &&
      chain.openCallIds.length > 0
    ) {
      const fresh = turnParts.slice(chain.turnPartCount);
      const open = new Set(chain.openCallIds);
      const outputs = fresh.filter(
        (part): part is Extract<Part, { type: 'tool-result' }> =>
          part.type === 'tool-result' && open.has(part.toolCallId),
      );
      if (outputs.length === open.size) {
        return {
          previousResponseId,
          input: outputs.map((part) => ({
            type: 'function_call_output',
            call_id: part.toolCallId,
            output: part.output,
          })),
        };
      }
    }
    // A new turn: the chain holds everything up to its anchor message and the agent's answer
    // that follows it.
    const anchor =
      chain.afterMessageId === null
        ? -1
        : request.messages.findIndex((message) => message.id === chain.afterMessageId);
    if (chain.openCallIds.length === 0 && (chain.afterMessageId === null || anchor >= 0)) {
      let start = anchor + 1;
      const next = request.messages[start];
      if (next && next.role === 'assistant' && next.author === agentName) start += 1;
      return {
        previousResponseId,
        input: [...historyInput(request.messages.slice(start), agentName), ...ownPartsInput(turnParts)],
      };
    }
  }
  return {
    previousResponseId: undefined,
    input: [...historyInput(request.messages, agentName), ...ownPartsInput(turnParts)],
  };
}

function historyInput(messages: readonly Message[], agentName: string): ResponseInputItem[] {
  const items: ResponseInputItem[] = [];
  for (const message of messages) {
    if (message.role === 'assistant' && message.author === agentName) {
      items.push(...ownPartsInput(partsOf(message)));
      continue;
    }
    const text =
      message.role === 'assistant'
        ? partsOf(message)
            .map((part) => (part.type === 'text' ? part.text : ''))
            .join('')
        : message.text;
    if (!text) continue;
    items.push({
      type: 'message',
      role: 'user',
      content: message.role === 'assistant' ? `[${message.author}]: ${text}` : text,
    });
  }
  return items;
}

/** The agent's own parts as input items; calls without results and results without calls are dropped. */
function ownPartsInput(parts: readonly Part[]): ResponseInputItem[] {
  const called = new Set<string>();
  const answered = new Set<string>();
  for (const part of parts) {
    if (part.type === 'tool-call') called.add(part.toolCallId);
    if (part.type === 'tool-result') answered.add(part.toolCallId);
  }
  const items: ResponseInputItem[] = [];
  for (const part of parts) {
    if (part.type === 'text' && part.text) {
      items.push({ type: 'message', role: 'assistant', content: part.text });
    } else if (part.type === 'tool-call' && answered.has(part.toolCallId)) {
      items.push({
        type: 'function_call',
        call_id: part.toolCallId,
        name: part.name,
        arguments: part.arguments || '{}',
      });
    } else if (part.type === 'tool-result' && called.has(part.toolCallId)) {
      items.push({ type: 'function_call_output', call_id: part.toolCallId, output: part.output });
    }
  }
  return items;
}

/** How long an abandoned response's request may live on to learn the response's id. */
const ORPHAN_GRACE_MS = 10_000;

function responsesTool(tool: ToolSpec): FunctionTool {
  return {
    type: 'function',
    name: tool.name,
    description: tool.description,
    parameters: tool.parameters,
    strict: false,
  };
}

/** What the event mapping reports about the response, for the remote state. */
export interface ResponseHooks {
  /** On `response.created`. */
  created(responseId: string): Promise<void>;
  /** On `response.completed` / `response.incomplete`, before the finish event is yielded. */
  finished(responseId: string, openCallIds: readonly string[]): Promise<void>;
}

/** Maps Responses stream events to model events. */
export async function* responsesEvents(
  events: AsyncIterable<ResponseStreamEvent>,
  signal: AbortSignal,
  hooks: ResponseHooks,
): AsyncGenerator<ModelEvent, void, undefined> {
  const callIdByItem = new Map<string, string>();
  const callIdByOutput = new Map<number, string>();
  const openCallIds: string[] = [];
  let finished = false;
  for await (const event of events) {
    switch (event.type) {
      case 'response.created':
        await hooks.created(event.response.id);
        break;
      case 'response.output_item.added': {
        const item = event.item;
        if (item.type !== 'function_call') break;
        if (item.id) callIdByItem.set(item.id, item.call_id);
        callIdByOutput.set(event.output_index, item.call_id);
        openCallIds.push(item.call_id);
        yield {
          type: 'delta',
          delta: {
            toolCall: {
              toolCallId: item.call_id,
              index: event.output_index,
              name: item.name,
              ...(item.arguments ? { arguments: item.arguments } : {}),
            },
          },
        };
        break;
      }
      case 'response.function_call_arguments.delta': {
        const toolCallId = callIdByItem.get(event.item_id) ?? callIdByOutput.get(event.output_index);
        if (toolCallId === undefined || !event.delta) break;
        yield {
          type: 'delta',
          delta: { toolCall: { toolCallId, index: event.output_index, arguments: event.delta } },
        };
        break;
      }
      case 'response.output_text.delta':
        if (event.delta) yield { type: 'delta', delta: { text: event.delta } };
        break;
      case 'response.output_text.annotation.added': {
        const delta = annotationDelta(event.annotation);
        if (delta) yield { type: 'delta', delta };
        break;
      }
      case 'response.reasoning_summary_part.added':
        // Summary parts of one reasoning item read as paragraphs.
        if (event.summary_index > 0) yield { type: 'delta', delta: { reasoning: '\n\n' } };
        break;
      case 'response.reasoning_summary_text.delta':
        if (event.delta) yield { type: 'delta', delta: { reasoning: event.delta } };
        break;
      case 'response.refusal.delta':
        if (event.delta) yield { type: 'delta', delta: { refusal: event.delta } };
        break;
      case 'response.completed':
      case 'response.incomplete': {
        const response = event.response;
        await hooks.finished(response.id, openCallIds);
        if (response.usage) yield { type: 'usage', usage: responsesUsage(response.usage) };
        finished = true;
        if (event.type === 'response.completed') {
          yield { type: 'finish', reason: openCallIds.length > 0 ? 'tool-calls' : 'stop' };
        } else {
          const reason = response.incomplete_details?.reason;
          yield {
            type: 'finish',
            reason:
              reason === 'max_output_tokens'
                ? 'length'
                : reason === 'content_filter'
                  ? 'content-filter'
                  : 'other',
          };
        }
        break;
      }
      case 'response.failed':
        throw fromErrorCode(event.response.error?.code, event.response.error ?? undefined);
      case 'error':
        throw fromErrorCode(event.code, event);
      default:
        break;
    }
  }
  signal.throwIfAborted();
  if (!finished) {
    throw modelError('connection', true, { message: 'the model stream ended before the model finished' });
  }
}

function responsesUsage(usage: ResponseUsage): Usage {
  const inputTokens = usage.input_tokens ?? 0;
  const outputTokens = usage.output_tokens ?? 0;
  return { inputTokens, outputTokens, totalTokens: usage.total_tokens ?? inputTokens + outputTokens };
}

/**
 * A Responses annotation as a typed delta: every kind becomes an Annotation; files the model
 * produced (`file_path`, `container_file_citation`) are also file references.
 */
export function annotationDelta(
  annotation: ResponseOutputTextAnnotationAddedEvent['annotation'],
): DeltaContent | undefined {
  if (!annotation) return undefined;
  switch (annotation.type) {
    case 'url_citation': {
      const value: Annotation = {
        kind: 'url-citation',
        url: annotation.url,
        title: annotation.title,
        startIndex: annotation.start_index,
        endIndex: annotation.end_index,
      };
      return { annotation: value };
    }
    case 'file_citation':
      return {
        annotation: {
          kind: 'file-citation',
          fileId: annotation.file_id,
          filename: annotation.filename,
          startIndex: annotation.index,
        },
      };
    case 'file_path':
      return {
        annotation: { kind: 'file-path', fileId: annotation.file_id, startIndex: annotation.index },
        file: { fileId: annotation.file_id },
      };
    case 'container_file_citation':
      return {
        annotation: {
          kind: 'container-file-citation',
          fileId: annotation.file_id,
          filename: annotation.filename,
          startIndex: annotation.start_index,
          endIndex: annotation.end_index,
          containerId: annotation.container_id,
        },
        file: {
          fileId: annotation.file_id,
          filename: annotation.filename,
          containerId: annotation.container_id,
        },
      };
    default:
      return undefined;
  }
}
