// The group chat loop (the seed's AgentGroupChat): select an agent → stream its answer → append
// the finished message to history → evaluate termination. The server and the library both run
// this one implementation; the server persists and broadcasts what it yields.
import { nanoid } from 'nanoid';
import type { DeltaContent, Message, Usage } from '../protocol/frames.ts';
import { ContentAccumulator } from '../protocol/content.ts';
import { MessageStatus, RunEndReason } from '../protocol/codes.ts';
import { addUsage, type Agent } from './agent.ts';
import { ModelError } from './model-client.ts';

export interface SelectionContext {
  agents: readonly Agent[];
  history: readonly Message[];
  /** 1 for the run's first turn. */
  iteration: number;
  /** The agent that spoke last in this run, if any. */
  lastAgent: Agent | undefined;
  signal: AbortSignal;
}

export interface SelectionStrategy {
  select(context: SelectionContext): Promise<Agent> | Agent;
  /** Forget state kept between runs (the library's `reset()`). */
  reset?(): void;
}

export interface TerminationContext {
  agent: Agent;
  message: Message;
  history: readonly Message[];
  iteration: number;
  /** Usage of the run so far. */
  usage: Usage;
  startedAt: number;
  signal: AbortSignal;
}

export interface TerminationDecision {
  terminate: boolean;
  /** What fired, for `run-end.detail`: `approval`, `judge`, `token-budget`, `timeout` … */
  detail?: string;
  /** A human-readable reason (for example the judge's). */
  explanation?: string;
}

export interface TerminationStrategy {
  shouldTerminate(context: TerminationContext): Promise<TerminationDecision> | TerminationDecision;
  reset?(): void;
}

/** Why a run's signal was aborted; `signal.reason` is one of these. */
export class RunAbort extends Error {
  readonly kind: 'cancelled' | 'superseded' | 'interrupted' | 'deleted' | 'timeout';
  constructor(kind: RunAbort['kind']) {
    super(`run ${kind}`);
    this.name = 'RunAbort';
    this.kind = kind;
  }
}

export type GroupChatEvent =
  | { type: 'message-start'; messageId: string; agent: string; createdAt: string }
  | { type: 'message-delta'; messageId: string; delta: DeltaContent }
  | { type: 'message-end'; message: Message }
  | { type: 'run-end'; reason: RunEndReason; detail?: string; explanation?: string };

export interface GroupChatOptions {
  agents: readonly Agent[];
  selection: SelectionStrategy;
  termination: TerminationStrategy;
  /** Hard cap on agent turns per run (run-end `max-iterations`). */
  maxIterations: number;
}

export interface GroupChatRunOptions {
  history: readonly Message[];
  signal: AbortSignal;
  runId?: string;
  conversationKey?: string;
}

export class GroupChat {
  readonly agents: readonly Agent[];
  readonly selection: SelectionStrategy;
  readonly termination: TerminationStrategy;
  readonly maxIterations: number;

  constructor(options: GroupChatOptions) {
    if (options.agents.length === 0) throw new Error('a group chat needs at least one agent');
    this.agents = options.agents;
    this.selection = options.selection;
    this.termination = options.termination;
    this.maxIterations = options.maxIterations;
  }

  /** Runs turns until termination, yielding each message's start, deltas and end, then run-end. */
  async *run(options: GroupChatRunOptions): AsyncGenerator<GroupChatEvent, void, void> {
    const { signal } = options;
    const history: Message[] = [...options.history];
    const startedAt = Date.now();
    let runUsage: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
    let lastAgent: Agent | undefined;

    for (let iteration = 1; iteration <= this.maxIterations; iteration += 1) {
      if (signal.aborted) {
        yield runEndForAbort(signal);
        return;
      }
      let agent: Agent;
      try {
        agent = await this.selection.select({ agents: this.agents, history, iteration, lastAgent, signal });
      } catch (error) {
        if (signal.aborted) yield runEndForAbort(signal);
        else yield { type: 'run-end', reason: RunEndReason.failed, detail: 'selection' };
        return;
      }
      const messageId = nanoid(16);
      const createdAt = new Date().toISOString();
      yield { type: 'message-start', messageId, agent: agent.name, createdAt };

      const content = new ContentAccumulator();
      let usage: Usage | undefined;
      let status: Message['status'] = MessageStatus.completed;
      let failure: { code: string; message: string } | undefined;
      try {
        for await (const event of agent.turn(history, {
          signal,
          ...(options.conversationKey === undefined ? {} : { conversationKey: options.conversationKey }),
        })) {
          if (event.type === 'delta') {
            content.apply(event.delta);
            yield { type: 'message-delta', messageId, delta: event.delta };
          } else {
            usage = addUsage(usage, event.usage);
          }
        }
        signal.throwIfAborted();
      } catch (error) {
        if (signal.aborted) {
          status = statusForAbort(signal);
        } else {
          status = MessageStatus.failed;
          failure =
            error instanceof ModelError
              ? { code: error.code, message: error.message }
              : { code: 'agent-error', message: 'the agent failed' };
        }
      }

      const message: Message = {
        id: messageId,
        role: 'assistant',
        author: agent.name,
        text: content.text,
        status,
        createdAt,
        ...(options.runId === undefined ? {} : { runId: options.runId }),
        ...(content.parts.length > 0 ? { parts: content.snapshotParts() } : {}),
        ...(usage ? { usage } : {}),
        ...(failure ? { error: failure } : {}),
      };
      yield { type: 'message-end', message };
      history.push(message);
      lastAgent = agent;
      if (usage) runUsage = addUsage(runUsage, usage);

      if (status === MessageStatus.failed) {
        yield { type: 'run-end', reason: RunEndReason.failed, detail: failure?.code ?? 'model' };
        return;
      }
      if (status !== MessageStatus.completed) {
        yield runEndForAbort(signal);
        return;
      }
      let decision: TerminationDecision;
      try {
        decision = await this.termination.shouldTerminate({
          agent,
          message,
          history,
          iteration,
          usage: runUsage,
          startedAt,
          signal,
        });
      } catch {
        if (signal.aborted) yield runEndForAbort(signal);
        else yield { type: 'run-end', reason: RunEndReason.failed, detail: 'termination' };
        return;
      }
      if (decision.terminate) {
        yield {
          type: 'run-end',
          reason: RunEndReason.terminated,
          ...(decision.detail === undefined ? {} : { detail: decision.detail }),
          ...(decision.explanation === undefined ? {} : { explanation: decision.explanation }),
        };
        return;
      }
    }
    yield { type: 'run-end', reason: RunEndReason.maxIterations };
  }

  reset(): void {
    this.selection.reset?.();
    this.termination.reset?.();
  }
}

function abortKind(signal: AbortSignal): RunAbort['kind'] {
  return signal.reason instanceof RunAbort ? signal.reason.kind : 'cancelled';
}

function statusForAbort(signal: AbortSignal): Message['status'] {
  return abortKind(signal) === 'interrupted' ? MessageStatus.interrupted : MessageStatus.cancelled;
}

function runEndForAbort(signal: AbortSignal): GroupChatEvent {
  const kind = abortKind(signal);
  switch (kind) {
    case 'interrupted':
      return { type: 'run-end', reason: RunEndReason.interrupted };
    case 'timeout':
      return { type: 'run-end', reason: RunEndReason.terminated, detail: 'timeout' };
    case 'superseded':
      return { type: 'run-end', reason: RunEndReason.cancelled, detail: 'superseded' };
    case 'deleted':
      return { type: 'run-end', reason: RunEndReason.cancelled, detail: 'deleted' };
    case 'cancelled':
      return { type: 'run-end', reason: RunEndReason.cancelled };
  }
}

// --- the minimal strategies the walking skeleton needs; more live in selection/ and termination/.

/** Round robin over the agents, starting with `initialAgent` (or the first). */
export class SequentialSelection implements SelectionStrategy {
  private next = 0;
  private readonly initialAgent: string | undefined;
  constructor(options: { initialAgent?: string } = {}) {
    this.initialAgent = options.initialAgent;
  }
  select({ agents, lastAgent }: SelectionContext): Agent {
    if (lastAgent === undefined && this.next === 0 && this.initialAgent !== undefined) {
      const index = agents.findIndex((agent) => agent.name === this.initialAgent);
      if (index >= 0) this.next = index;
    }
    const agent = agents[this.next % agents.length]!;
    this.next = (this.next + 1) % agents.length;
    return agent;
  }
  reset(): void {
    this.next = 0;
  }
}

/** Stops when a message (optionally only from some agents) contains `text` (case-sensitive). */
export class TextMentionTermination implements TerminationStrategy {
  private readonly text: string;
  private readonly agents: ReadonlySet<string> | undefined;
  private readonly detail: string;
  constructor(options: { text: string; agents?: readonly string[]; detail?: string }) {
    this.text = options.text;
    this.agents = options.agents ? new Set(options.agents) : undefined;
    this.detail = options.detail ?? 'approval';
  }
  shouldTerminate({ agent, message }: TerminationContext): TerminationDecision {
    if (this.agents && !this.agents.has(agent.name)) return { terminate: false };
    return message.text.includes(this.text)
      ? { terminate: true, detail: this.detail, explanation: `${agent.name} wrote "${this.text}"` }
      : { terminate: false };
  }
}
