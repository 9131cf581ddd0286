// Stops a run after `timeoutMs` of wall-clock time (AutoGen's TimeoutTermination). The GroupChat
// reads `deadline()` and aborts the run when it passes, mid-message: the message is stored
// `cancelled`, run-end is `terminated` / `timeout`. After each message it is checked as well.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { TerminationDetail } from './detail.ts';

export interface TimeoutTerminationOptions {
  timeoutMs: number;
  /** Clock, for tests. @default Date.now */
  now?: (() => number) | undefined;
}

export class TimeoutTermination implements TerminationStrategy {
  readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(options: TimeoutTerminationOptions) {
    if (!(options.timeoutMs > 0)) throw new Error('timeoutMs must be positive');
    this.timeoutMs = options.timeoutMs;
    this.now = options.now ?? Date.now;
  }

  deadline(startedAt: number): number {
    return startedAt + this.timeoutMs;
  }

  shouldTerminate({ startedAt }: TerminationContext): TerminationDecision {
    const elapsed = this.now() - startedAt;
    return elapsed >= this.timeoutMs
      ? {
          terminate: true,
          detail: TerminationDetail.timeout,
          explanation: `the run reached its time limit of ${this.timeoutMs} ms`,
        }
      : {
          terminate: false,
          detail: TerminationDetail.timeout,
          explanation: `${elapsed} of ${this.timeoutMs} ms used`,
        };
  }
}
