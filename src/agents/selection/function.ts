// Custom selection: a function picks the next agent (AutoGen's `selector_func`). It may return the
// agent or its name; an unknown name fails the run (run-end `failed` / `selection`).
import type { Agent } from '../agent.ts';
import type { SelectionContext, SelectionStrategy } from '../group-chat.ts';

export type SelectionFunction = (context: SelectionContext) => Agent | string | Promise<Agent | string>;

export class FunctionSelection implements SelectionStrategy {
  private readonly choose: SelectionFunction;
  private readonly onReset: (() => void) | undefined;

  constructor(choose: SelectionFunction, options: { reset?: () => void } = {}) {
    this.choose = choose;
    this.onReset = options.reset;
  }

  async select(context: SelectionContext): Promise<Agent> {
    const choice = await this.choose(context);
    if (typeof choice !== 'string') {
      if (!context.agents.includes(choice))
        throw new Error(`the selection function chose "${choice.name}", who is not in the group chat`);
      return choice;
    }
    const agent = context.agents.find((candidate) => candidate.name === choice);
    if (!agent) throw new Error(`the selection function chose "${choice}", who is not in the group chat`);
    return agent;
  }

  reset(): void {
    this.onReset?.();
  }
}
