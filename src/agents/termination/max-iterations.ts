// Stops after `maxIterations` agent turns of a run, as a strategy (so it combines with any/all).
// The GroupChat's own cap stays a hard limit with run-end `max-iterations`; this strategy ends the
// run `terminated` with detail `max-iterations`, which the library's `isComplete` counts.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { TerminationDetail } from './detail.ts';

export class MaxIterationsTermination implements TerminationStrategy {
  readonly maxIterations: number;

  constructor(options: { maxIterations: number }) {
    if (!(options.maxIterations >= 1)) throw new Error('maxIterations must be at least 1');
    this.maxIterations = options.maxIterations;
  }

  shouldTerminate({ iteration }: TerminationContext): TerminationDecision {
    const terminate = iteration >= this.maxIterations;
    return {
      terminate,
      detail: TerminationDetail.maxIterations,
      explanation: terminate
        ? `the run reached ${this.maxIterations} agent turns`
        : `${iteration} of ${this.maxIterations} agent turns`,
    };
  }
}
