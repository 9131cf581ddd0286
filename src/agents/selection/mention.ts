// @mention selection: an `@name` in the last message picks the next speaker (case-insensitive, the
// first mention of an agent other than the message's author); without one, a fallback strategy
// (sequential by default) picks.
import type { Agent } from '../agent.ts';
import type { SelectionContext, SelectionStrategy } from '../group-chat.ts';
import { SequentialSelection } from './sequential.ts';

export interface MentionSelectionOptions {
  /** Picks when the last message mentions no agent. @default new SequentialSelection() */
  fallback?: SelectionStrategy | undefined;
  /** Whether an agent mentioning itself picks itself again. @default false */
  allowSelfMention?: boolean | undefined;
}

export class MentionSelection implements SelectionStrategy {
  readonly fallback: SelectionStrategy;
  private readonly allowSelfMention: boolean;

  constructor(options: MentionSelectionOptions = {}) {
    this.fallback = options.fallback ?? new SequentialSelection();
    this.allowSelfMention = options.allowSelfMention ?? false;
  }

  select(context: SelectionContext): Promise<Agent> | Agent {
    const last = context.history.at(-1);
    if (last) {
      const candidates = this.allowSelfMention
        ? context.agents
        : context.agents.filter((agent) => agent.name !== last.author);
      const mentioned = firstMention(last.text, candidates);
      if (mentioned) return mentioned;
    }
    return this.fallback.select(context);
  }

  reset(): void {
    this.fallback.reset?.();
  }
}

/** The agent whose `@name` comes first in `text` (case-insensitive, whole names only). */
export function firstMention(text: string, agents: readonly Agent[]): Agent | undefined {
  let best: { agent: Agent; at: number } | undefined;
  for (const agent of agents) {
    const pattern = new RegExp(`@${escapeRegExp(agent.name)}(?![\\w-])`, 'i');
    const match = pattern.exec(text);
    if (match && (best === undefined || match.index < best.at)) best = { agent, at: match.index };
  }
  return best?.agent;
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
