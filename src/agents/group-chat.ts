// The group chat loop (the seed's AgentGroupChat): select an agent → stream its answer → append
// the finished message to history → evaluate termination. The server and the library both run
// this one implementation; the server persists and broadcasts what it yields.
import { nanoid } from 'nanoid';
import type { DeltaContent, Message, Usage } from '../protocol/frames.ts';
import { ContentAccumulator } from '../protocol/content.ts';
import { MessageStatus, RunEndReason } from '../protocol/codes.ts';
import { addUsage, type Agent } from './agent.ts';
import { ModelError } from '../errors.ts';

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
  detail?: string | undefined;
  /** A human-readable reason (for example the judge's). */
  explanation?: string | undefined;
}

export interface TerminationStrategy {
  shouldTerminate(context: TerminationContext): Promise<TerminationDecision> | TerminationDecision;
  /**
   * An absolute time (epoch ms) at which the run must stop even mid-message, for a run started at
   * `startedAt`; undefined when the strategy has none. The GroupChat aborts the run's signal with
   * RunAbort('timeout') then: the message in flight is stored `cancelled`, run-end is
   * `terminated` / `timeout`.
   */
  deadline?(startedAt: number): number | undefined;
  reset?(): void;
}

/** Why a run's signal was aborted; `signal.reason` is one of these. */
export class RunAbort extends Error {
  readonly kind: 'cancelled' | 'superseded' | 'interrupted' | 'deleted' | 'timeout';
  /** A human-readable reason, passed on as run-end's `explanation`. */
  readonly explanation: string | undefined;
  constructor(kind: RunAbort['kind'], explanation?: string) {
    super(explanation === undefined ? `run ${kind}` : `run ${kind}: ${explanation}`);
    this.name = 'RunAbort';
    this.kind = kind;
    this.explanation = explanation;
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
  /**
   * Wall-clock limit of a run in ms, enforced mid-message (as a termination strategy's deadline
   * is): run-end `terminated` / `timeout`. @default none
   */
  timeoutMs?: number | undefined;
}

export interface GroupChatRunOptions {
  history: readonly Message[];
  signal: AbortSignal;
  runId?: string | undefined;
  conversationKey?: string | undefined;
}

export class GroupChat {
  readonly agents: readonly Agent[];
  readonly selection: SelectionStrategy;
  readonly termination: TerminationStrategy;
  readonly maxIterations: number;
  readonly timeoutMs: number | undefined;

  constructor(options: GroupChatOptions) {
    if (options.agents.length === 0) throw new Error('a group chat needs at least one agent');
    const names = new Set<string>();
    for (const agent of options.agents) {
      if (names.has(agent.name)) throw new Error(`agent "${agent.name}" appears twice in the group chat`);
      names.add(agent.name);
    }
    if (!(options.maxIterations >= 1)) throw new Error('maxIterations must be at least 1');
    this.agents = options.agents;
    this.selection = options.selection;
    this.termination = options.termination;
    this.maxIterations = options.maxIterations;
    this.timeoutMs = options.timeoutMs;
  }

  /** Runs turns until termination, yielding each message's start, deltas and end, then run-end. */
  async *run(options: GroupChatRunOptions): AsyncGenerator<GroupChatEvent, void, void> {
    const startedAt = Date.now();
    const deadline = earliest(
      this.timeoutMs === undefined ? undefined : startedAt + this.timeoutMs,
      this.termination.deadline?.(startedAt),
    );
    if (deadline === undefined) {
      yield* this.turns(options, options.signal, startedAt, () => undefined);
      return;
    }
    // The deadline aborts the run's signal, so a message in flight stops at once; it is also
    // checked before each turn, for models that never yield to the event loop's timers. The
    // combined signal is a controller of our own that the timer and the caller's signal hold
    // strongly (a composite from AbortSignal.any() is only weakly held by its sources).
    const run = new AbortController();
    const forward = () => run.abort(options.signal.reason);
    if (options.signal.aborted) forward();
    else options.signal.addEventListener('abort', forward, { once: true });
    const expire = () => {
      if (!run.signal.aborted) {
        run.abort(new RunAbort('timeout', `the run reached its time limit of ${deadline - startedAt} ms`));
      }
    };
    const checkDeadline = () => {
      if (Date.now() >= deadline) expire();
    };
    // The timer's clock and Date.now() may differ by a millisecond: when it fires, the time is up.
    // (A deadline beyond setTimeout's range, about 24 days, is only checked between turns.)
    const delay = Math.max(0, deadline - Date.now());
    const timer = delay <= MAX_TIMER_MS ? setTimeout(expire, delay) : undefined;
    try {
      yield* this.turns(options, run.signal, startedAt, checkDeadline);
    } finally {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', forward);
    }
  }

  private async *turns(
    options: GroupChatRunOptions,
    signal: AbortSignal,
    startedAt: number,
    checkDeadline: () => void,
  ): AsyncGenerator<GroupChatEvent, void, void> {
    const history: Message[] = [...options.history];
    let runUsage: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
    let lastAgent: Agent | undefined;

    for (let iteration = 1; iteration <= this.maxIterations; iteration += 1) {
      checkDeadline();
      if (signal.aborted) {
        yield runEndForAbort(signal);
        return;
      }
      let agent: Agent;
      try {
        agent = await this.selection.select({ agents: this.agents, history, iteration, lastAgent, signal });
      } catch (error) {
        if (signal.aborted) yield runEndForAbort(signal);
        else
          yield {
            type: 'run-end',
            reason: RunEndReason.failed,
            detail: 'selection',
            explanation: describe(error),
          };
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
      } catch (error) {
        if (signal.aborted) yield runEndForAbort(signal);
        else
          yield {
            type: 'run-end',
            reason: RunEndReason.failed,
            detail: 'termination',
            explanation: describe(error),
          };
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
    yield {
      type: 'run-end',
      reason: RunEndReason.maxIterations,
      explanation: `the run reached its cap of ${this.maxIterations} agent turns`,
    };
  }

  reset(): void {
    this.selection.reset?.();
    this.termination.reset?.();
  }
}

function earliest(...times: (number | undefined)[]): number | undefined {
  const defined = times.filter((time): time is number => time !== undefined && Number.isFinite(time));
  return defined.length === 0 ? undefined : Math.min(...defined);
}

/** The longest delay setTimeout takes (2^31 - 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function abortKind(signal: AbortSignal): RunAbort['kind'] {
  return signal.reason instanceof RunAbort ? signal.reason.kind : 'cancelled';
}

function statusForAbort(signal: AbortSignal): Message['status'] {
  return abortKind(signal) === 'interrupted' ? MessageStatus.interrupted : MessageStatus.cancelled;
}

function runEndForAbort(signal: AbortSignal): GroupChatEvent {
  const kind = abortKind(signal);
  const given = signal.reason instanceof RunAbort ? signal.reason.explanation : undefined;
  const explanation = (fallback: string) => ({ explanation: given ?? fallback });
  switch (kind) {
    case 'interrupted':
      return { type: 'run-end', reason: RunEndReason.interrupted, ...explanation('the run was interrupted') };
    case 'timeout':
      return {
        type: 'run-end',
        reason: RunEndReason.terminated,
        detail: 'timeout',
        ...explanation('the run reached its time limit'),
      };
    case 'superseded':
      return {
        type: 'run-end',
        reason: RunEndReason.cancelled,
        detail: 'superseded',
        ...explanation('a newer message superseded the run'),
      };
    case 'deleted':
      return {
        type: 'run-end',
        reason: RunEndReason.cancelled,
        detail: 'deleted',
        ...explanation('the thread was deleted'),
      };
    case 'cancelled':
      return { type: 'run-end', reason: RunEndReason.cancelled, ...explanation('the run was cancelled') };
  }
}

// The strategies live in selection/ and termination/; these two are re-exported here because the
// walking skeleton exported them from this module.
export { SequentialSelection } from './selection/sequential.ts';
export { TextMentionTermination } from './termination/text-mention.ts';
