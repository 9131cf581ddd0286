// Stops once the run's agents have used a token budget (AutoGen's TokenUsageTermination). Counts
// the usage the model clients report for the run's messages; checked after each message.
import type { Usage } from '../../protocol/frames.ts';
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { TerminationDetail } from './detail.ts';

export interface TokenBudgetTerminationOptions {
  maxTotalTokens?: number | undefined;
  maxInputTokens?: number | undefined;
  maxOutputTokens?: number | undefined;
}

const LIMITS = [
  ['maxTotalTokens', 'totalTokens', 'tokens'],
  ['maxInputTokens', 'inputTokens', 'input tokens'],
  ['maxOutputTokens', 'outputTokens', 'output tokens'],
] as const satisfies readonly (readonly [keyof TokenBudgetTerminationOptions, keyof Usage, string])[];

export class TokenBudgetTermination implements TerminationStrategy {
  private readonly options: TokenBudgetTerminationOptions;

  constructor(options: TokenBudgetTerminationOptions) {
    if (LIMITS.every(([limit]) => options[limit] === undefined)) {
      throw new Error('token-budget termination needs maxTotalTokens, maxInputTokens or maxOutputTokens');
    }
    this.options = options;
  }

  shouldTerminate({ usage }: TerminationContext): TerminationDecision {
    for (const [limit, field, label] of LIMITS) {
      const budget = this.options[limit];
      if (budget !== undefined && usage[field] >= budget) {
        return {
          terminate: true,
          detail: TerminationDetail.tokenBudget,
          explanation: `the run used ${usage[field]} ${label}, reaching its budget of ${budget}`,
        };
      }
    }
    return {
      terminate: false,
      detail: TerminationDetail.tokenBudget,
      explanation: `the run used ${usage.totalTokens} tokens, within its budget`,
    };
  }
}
