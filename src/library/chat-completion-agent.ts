// The seed's ChatCompletionAgent: one agent (name, instructions, model, tools) streamed on its
// own. `invokeStream(messages, { thread })` adds the messages to the thread, streams the answer as
// items `{ agentName, role, content, delta, thread }`, and when the stream ends the thread holds
// the finished message (history updated after the full response, as SK's). The turn runs on the
// same Agent and GroupChat as the server's.
import { Agent } from '../agents/agent.ts';
import { GroupChat, type TerminationStrategy } from '../agents/group-chat.ts';
import type { McpServerPool } from '../agents/mcp/mcp-server-pool.ts';
import { McpToolsModel } from '../agents/mcp/mcp-tools-model.ts';
import { McpToolset, type McpToolAllowList } from '../agents/mcp/mcp-tools.ts';
import type { ModelClient } from '../agents/model-client.ts';
import { SequentialSelection } from '../agents/selection/sequential.ts';
import type { Tool } from '../agents/tools.ts';
import type { Message } from '../protocol/frames.ts';
import { ChatHistoryAgentThread } from './chat-history-agent-thread.ts';
import { toMessages, type ChatMessageInput } from './messages.ts';
import { resolveModel, type CreateModelOptions, type ModelInput } from './models.ts';
import { drive, type StreamingChatItem } from './run-chat.ts';

export interface ChatAgentOptions extends CreateModelOptions {
  name: string;
  description?: string | undefined;
  instructions: string;
  /** A model client, or a spec (`{ provider: 'openai-chat', model: 'gpt-5-mini' }`) for the model factory. */
  model: ModelInput;
  tools?: readonly Tool[] | undefined;
  /** The MCP servers `mcpTools` names (one pool may serve many agents; close it when done). */
  mcpServers?: McpServerPool | undefined;
  /** Tools of `mcpServers` this agent may call, by server: `{ files: ['read_text_file'] }`. */
  mcpTools?: McpToolAllowList | undefined;
  maxOutputTokens?: number | undefined;
  /** @default 5 */
  maxToolRounds?: number | undefined;
}

export interface InvokeOptions {
  /** The conversation to continue; a new one when absent (read it back from the items). */
  thread?: ChatHistoryAgentThread | undefined;
  signal?: AbortSignal | undefined;
}

export interface AgentStreamItem extends StreamingChatItem {
  thread: ChatHistoryAgentThread;
}

export interface AgentResponse {
  message: Message;
  thread: ChatHistoryAgentThread;
}

/** One turn, nothing to decide: the run is a single iteration. */
const singleTurn: TerminationStrategy = {
  shouldTerminate: () => ({
    terminate: false,
    detail: 'single-turn',
    explanation: 'one turn per invocation',
  }),
};

/** An agent usable on its own or in an AgentGroupChat; ChatCompletionAgent and OpenAIResponsesAgent are its kinds. */
export class ChatAgent {
  /** The agent the group chat runs (also what AgentGroupChat takes). */
  readonly agent: Agent;

  constructor(options: ChatAgentOptions) {
    const model = resolveModel(options.model, options);
    const toolset = mcpToolset(options);
    const tools = [...(options.tools ?? []), ...(toolset?.tools() ?? [])];
    this.agent = new Agent({
      name: options.name,
      ...(options.description === undefined ? {} : { description: options.description }),
      instructions: options.instructions,
      // The model is asked through a wrapper that puts the MCP tools' current schemas in.
      model: toolset ? new McpToolsModel(model, toolset) : model,
      ...(tools.length === 0 ? {} : { tools }),
      ...(options.maxOutputTokens === undefined ? {} : { maxOutputTokens: options.maxOutputTokens }),
      ...(options.maxToolRounds === undefined ? {} : { maxToolRounds: options.maxToolRounds }),
    });
  }

  get name(): string {
    return this.agent.name;
  }

  get description(): string {
    return this.agent.description;
  }

  get instructions(): string {
    return this.agent.instructions;
  }

  get model(): ModelClient {
    return this.agent.model;
  }

  /**
   * Adds `messages` to the thread and streams the agent's answer. Throws AgentInvokeError when the
   * model fails and the abort reason when `signal` aborts — after the cut-short message (status
   * `failed` / `cancelled`) is in the thread.
   */
  async *invokeStream(
    messages?: ChatMessageInput | readonly ChatMessageInput[],
    options: InvokeOptions = {},
  ): AsyncGenerator<AgentStreamItem, void, void> {
    const thread = options.thread ?? new ChatHistoryAgentThread();
    thread.append(...toMessages(messages));
    thread.served(this.agent.model);
    const chat = new GroupChat({
      agents: [this.agent],
      selection: new SequentialSelection(),
      termination: singleTurn,
      maxIterations: 1,
    });
    for await (const item of drive({
      chat,
      history: () => thread.messages,
      onMessage: (message) => thread.append(message),
      onEnd: () => undefined,
      signal: options.signal,
      conversationKey: thread.id,
    })) {
      yield { ...item, thread };
    }
  }

  /** Runs the turn to the end and returns the finished message (SK's `get_response`). */
  async getResponse(
    messages?: ChatMessageInput | readonly ChatMessageInput[],
    options: InvokeOptions = {},
  ): Promise<AgentResponse> {
    const thread = options.thread ?? new ChatHistoryAgentThread();
    for await (const item of this.invokeStream(messages, { ...options, thread })) void item;
    // A turn that did not complete threw above; the thread now ends with the agent's message.
    const message = thread.messages.at(-1);
    if (!message || message.author !== this.name) throw new Error(`agent ${this.name} produced no message`);
    return { message, thread };
  }

  /** SK's `invoke`: the finished response as one item. */
  async *invoke(
    messages?: ChatMessageInput | readonly ChatMessageInput[],
    options: InvokeOptions = {},
  ): AsyncGenerator<AgentResponse, void, void> {
    yield await this.getResponse(messages, options);
  }
}

function mcpToolset(options: ChatAgentOptions): McpToolset | undefined {
  if (options.mcpTools === undefined) return undefined;
  if (!options.mcpServers) throw new Error(`agent "${options.name}": mcpTools need mcpServers`);
  return new McpToolset(options.mcpServers, options.mcpTools);
}

/** An agent on Chat Completions (any OpenAI-compatible endpoint), or on any model client given. */
export class ChatCompletionAgent extends ChatAgent {}
