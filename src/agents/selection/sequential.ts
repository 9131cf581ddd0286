// Round robin (SK's SequentialSelectionStrategy): the agent after the one that spoke last, starting
// with `initialAgent`. The initial agent speaks once, not twice (the index moves past it), and the
// order continues from whoever spoke last even when another strategy (a mention) picked them.
import type { Agent } from '../agent.ts';
import type { SelectionContext, SelectionStrategy } from '../group-chat.ts';

export interface SequentialSelectionOptions {
  /** Name of the agent that speaks first. @default the first agent */
  initialAgent?: string | undefined;
}

export class SequentialSelection implements SelectionStrategy {
  private readonly initialAgent: string | undefined;
  /** Index of the agent that speaks next when this run has no last agent yet. */
  private next = 0;
  private started = false;

  constructor(options: SequentialSelectionOptions = {}) {
    this.initialAgent = options.initialAgent;
  }

  select({ agents, lastAgent }: SelectionContext): Agent {
    let index: number;
    if (lastAgent !== undefined && agents.includes(lastAgent)) {
      index = (agents.indexOf(lastAgent) + 1) % agents.length;
    } else if (!this.started) {
      index =
        this.initialAgent === undefined ? 0 : agents.findIndex((agent) => agent.name === this.initialAgent);
      if (index < 0) throw new Error(`initial agent "${this.initialAgent}" is not in the group chat`);
    } else {
      // A new run of the same chat (the library): the round robin carries on.
      index = this.next % agents.length;
    }
    this.started = true;
    this.next = (index + 1) % agents.length;
    return agents[index]!;
  }

  reset(): void {
    this.next = 0;
    this.started = false;
  }
}
