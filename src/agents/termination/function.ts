// Custom termination: a function decides (SK's custom TerminationStrategy subclasses, such as the
// seed's ApprovalTerminationStrategy). A boolean answer gets detail `custom`.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { TerminationDetail } from './detail.ts';

export type TerminationFunction = (
  context: TerminationContext,
) => boolean | TerminationDecision | Promise<boolean | TerminationDecision>;

export class FunctionTermination implements TerminationStrategy {
  private readonly decide: TerminationFunction;
  private readonly detail: string;

  constructor(decide: TerminationFunction, options: { detail?: string } = {}) {
    this.decide = decide;
    this.detail = options.detail ?? TerminationDetail.custom;
  }

  async shouldTerminate(context: TerminationContext): Promise<TerminationDecision> {
    const answer = await this.decide(context);
    if (typeof answer !== 'boolean') return { detail: this.detail, ...answer };
    return {
      terminate: answer,
      detail: this.detail,
      explanation: answer
        ? `the ${this.detail} rule ended the run after ${context.agent.name}`
        : `the ${this.detail} rule let the run go on`,
    };
  }
}
