// Combinations (AutoGen's `|` and `&`, SK's AggregatorTerminationStrategy). `any` stops when one
// member fires (members are asked in order and the first that fires decides, so put cheap rules
// before an LLM judge); `all` stops when every member fires on the same message, with the detail of
// the last member. Deadlines: `any` has its members' earliest, `all` the latest when every member
// has one.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';

abstract class Combination implements TerminationStrategy {
  readonly members: readonly TerminationStrategy[];

  constructor(members: readonly TerminationStrategy[]) {
    if (members.length === 0) throw new Error('a termination combination needs at least one member');
    this.members = members;
  }

  abstract shouldTerminate(context: TerminationContext): Promise<TerminationDecision>;
  abstract deadline(startedAt: number): number | undefined;

  reset(): void {
    for (const member of this.members) member.reset?.();
  }

  protected deadlines(startedAt: number): (number | undefined)[] {
    return this.members.map((member) => member.deadline?.(startedAt));
  }
}

export class AnyTermination extends Combination {
  async shouldTerminate(context: TerminationContext): Promise<TerminationDecision> {
    const explanations: string[] = [];
    for (const member of this.members) {
      const decision = await member.shouldTerminate(context);
      if (decision.terminate) return decision;
      if (decision.explanation) explanations.push(decision.explanation);
    }
    return { terminate: false, detail: 'any', explanation: explanations.join('; ') || 'no condition holds' };
  }

  deadline(startedAt: number): number | undefined {
    const known = this.deadlines(startedAt).filter((time): time is number => time !== undefined);
    return known.length === 0 ? undefined : Math.min(...known);
  }
}

export class AllTermination extends Combination {
  async shouldTerminate(context: TerminationContext): Promise<TerminationDecision> {
    const explanations: string[] = [];
    let last: TerminationDecision | undefined;
    for (const member of this.members) {
      const decision = await member.shouldTerminate(context);
      if (!decision.terminate) {
        return {
          terminate: false,
          ...(decision.detail === undefined ? {} : { detail: decision.detail }),
          explanation: `not every condition holds: ${decision.explanation ?? 'one did not fire'}`,
        };
      }
      if (decision.explanation) explanations.push(decision.explanation);
      last = decision;
    }
    return {
      terminate: true,
      ...(last?.detail === undefined ? {} : { detail: last.detail }),
      explanation: explanations.join('; '),
    };
  }

  deadline(startedAt: number): number | undefined {
    const all = this.deadlines(startedAt);
    if (all.some((time) => time === undefined)) return undefined;
    return Math.max(...(all as number[]));
  }
}

/** Stops when any member fires. */
export function anyOf(...members: TerminationStrategy[]): AnyTermination {
  return new AnyTermination(members);
}

/** Stops when every member fires on the same message. */
export function allOf(...members: TerminationStrategy[]): AllTermination {
  return new AllTermination(members);
}
