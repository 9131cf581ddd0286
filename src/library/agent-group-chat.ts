// The seed's AgentGroupChat, on the server's GroupChat: agents take turns chosen by a selection
// strategy until a termination strategy fires or `maximumIterations` turns have run.
// - `addChatMessage()` adds a (user) message; `invokeStream()` runs the agents and yields every
//   fragment with its `agentName`, so the author change is visible; the history holds finished
//   messages only.
// - `isComplete` is true only when the termination strategy ended the run — not when the cap did
//   (as in SK). A complete chat refuses to run again until `reset()`, unless `automaticReset`.
// - Strategies keep their state across invocations (a round robin carries on) until `reset()`,
//   which also clears the history and deletes remote conversation state (Responses agents).
// - One invocation at a time per chat (SK: "Unable to proceed while another agent is active").
// Differences from SK: `getChatMessages()` is oldest first; a selector that names no agent falls
// back instead of ending the chat.
import { nanoid } from 'nanoid';
import type { Agent } from '../agents/agent.ts';
import { GroupChat, type SelectionStrategy, type TerminationStrategy } from '../agents/group-chat.ts';
import { FunctionSelection } from '../agents/selection/function.ts';
import { SequentialSelection } from '../agents/selection/sequential.ts';
import type { Team } from '../teams/team.ts';
import { RunEndReason } from '../protocol/codes.ts';
import type { Message } from '../protocol/frames.ts';
import { toMessage, toMessages, type ChatMessageInput } from './messages.ts';
import { drive, type RunOutcome, type StreamingChatItem } from './run-chat.ts';

/** An agent of the library (ChatCompletionAgent, OpenAIResponsesAgent) or the core Agent. */
export type AgentLike = Agent | { readonly agent: Agent };

export interface AgentGroupChatOptions {
  agents: readonly AgentLike[];
  /** @default new SequentialSelection() */
  selectionStrategy?: SelectionStrategy | undefined;
  /** @default none: only `maximumIterations` ends a run, and isComplete stays false */
  terminationStrategy?: TerminationStrategy | undefined;
  /** Cap on agent turns per invocation (SK's TerminationStrategy.maximum_iterations). @default 99 */
  maximumIterations?: number | undefined;
  /** Whether a complete chat may be invoked again (isComplete is cleared). @default false */
  automaticReset?: boolean | undefined;
  /** Wall-clock limit of one invocation, enforced mid-message. */
  timeoutMs?: number | undefined;
  /** Initial messages (oldest first). */
  messages?: readonly ChatMessageInput[] | undefined;
}

export interface GroupInvokeOptions {
  signal?: AbortSignal | undefined;
  /** Runs exactly one turn of this agent (SK's `invoke(agent)`); termination is not consulted. */
  agent?: AgentLike | undefined;
}

const DEFAULT_MAXIMUM_ITERATIONS = 99;

const neverTerminate: TerminationStrategy = {
  shouldTerminate: () => ({ terminate: false, detail: 'none', explanation: 'no termination strategy' }),
};

export class AgentGroupChat {
  /** The conversation key model clients keep remote state under; renewed by reset(). */
  get id(): string {
    return this.conversationKey;
  }
  readonly agents: readonly Agent[];
  readonly automaticReset: boolean;
  /** True once the termination strategy has ended a run (not when the cap did). */
  isComplete = false;
  /** How the last invocation ended (`terminated` with `detail` and `explanation`, `max-iterations` …). */
  lastOutcome: RunOutcome | undefined;
  private readonly chat: GroupChat;
  private readonly history: Message[] = [];
  private conversationKey = `chat-${nanoid(12)}`;
  private active = false;

  constructor(options: AgentGroupChatOptions) {
    this.agents = options.agents.map(unwrap);
    this.automaticReset = options.automaticReset ?? false;
    this.chat = new GroupChat({
      agents: this.agents,
      selection: options.selectionStrategy ?? new SequentialSelection(),
      termination: options.terminationStrategy ?? neverTerminate,
      maxIterations: options.maximumIterations ?? DEFAULT_MAXIMUM_ITERATIONS,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    this.history.push(...toMessages(options.messages ?? []));
  }

  /** A chat with a team's agents and strategies (the team a team file or the server defines). */
  static fromTeam(
    team: Team,
    options: Pick<AgentGroupChatOptions, 'automaticReset' | 'messages'> = {},
  ): AgentGroupChat {
    const chat = team.createGroupChat();
    return new AgentGroupChat({
      agents: chat.agents,
      selectionStrategy: chat.selection,
      terminationStrategy: chat.termination,
      maximumIterations: chat.maxIterations,
      ...(chat.timeoutMs === undefined ? {} : { timeoutMs: chat.timeoutMs }),
      ...options,
    });
  }

  get selectionStrategy(): SelectionStrategy {
    return this.chat.selection;
  }

  get terminationStrategy(): TerminationStrategy {
    return this.chat.termination;
  }

  get maximumIterations(): number {
    return this.chat.maxIterations;
  }

  /** Adds a message (text is a user message). */
  addChatMessage(message: ChatMessageInput): void {
    this.history.push(toMessage(message));
  }

  addChatMessages(messages: readonly ChatMessageInput[]): void {
    this.history.push(...toMessages(messages));
  }

  /** The finished messages, oldest first. */
  getChatMessages(): Message[] {
    return [...this.history];
  }

  /**
   * Runs agents until termination (or the cap), yielding each fragment with its agent's name.
   * Throws AgentInvokeError when an agent's model fails and the abort reason when `signal` aborts,
   * after the cut-short message is in the history.
   */
  async *invokeStream(options: GroupInvokeOptions = {}): AsyncGenerator<StreamingChatItem, void, void> {
    if (this.active) throw new Error('Unable to proceed while another agent is active in this chat');
    if (this.isComplete && options.agent === undefined) {
      if (!this.automaticReset)
        throw new Error('the chat is complete: call reset() first, or create it with automaticReset');
      this.isComplete = false;
    }
    this.active = true;
    try {
      const chat = options.agent === undefined ? this.chat : this.singleTurn(unwrap(options.agent));
      yield* drive({
        chat,
        history: () => this.history,
        onMessage: (message) => this.history.push(message),
        onEnd: (outcome) => {
          this.lastOutcome = outcome;
          if (options.agent === undefined && outcome.reason === RunEndReason.terminated)
            this.isComplete = true;
        },
        signal: options.signal,
        conversationKey: this.conversationKey,
      });
    } finally {
      this.active = false;
    }
  }

  /** Runs like invokeStream and yields each finished message. */
  async *invoke(options: GroupInvokeOptions = {}): AsyncGenerator<Message, void, void> {
    let seen = this.history.length;
    for await (const item of this.invokeStream(options)) {
      void item;
      while (seen < this.history.length) yield this.history[seen++]!;
    }
    while (seen < this.history.length) yield this.history[seen++]!;
  }

  /**
   * Clears the history, `isComplete` and the strategies' state, and deletes the remote
   * conversation state of every agent's model (Responses); the next run starts a new conversation.
   */
  async reset(): Promise<void> {
    if (this.active) throw new Error('Unable to reset while an agent is active in this chat');
    const key = this.conversationKey;
    this.history.length = 0;
    this.isComplete = false;
    this.lastOutcome = undefined;
    this.chat.reset();
    this.conversationKey = `chat-${nanoid(12)}`;
    const models = new Set(this.agents.map((agent) => agent.model));
    await Promise.all([...models].map((model) => model.deleteConversation?.(key)));
  }

  private singleTurn(agent: Agent): GroupChat {
    if (!this.agents.includes(agent)) throw new Error(`agent ${agent.name} is not in this chat`);
    return new GroupChat({
      agents: this.agents,
      selection: new FunctionSelection(() => agent),
      termination: neverTerminate,
      maxIterations: 1,
    });
  }
}

function unwrap(agent: AgentLike): Agent {
  return 'agent' in agent ? agent.agent : agent;
}
