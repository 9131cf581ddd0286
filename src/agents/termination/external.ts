// Stops a run from outside after the current message (AutoGen's ExternalTermination): call `set()`.
// It stays set until `reset()`. To stop mid-message, abort the run's signal instead (cancel).
import type { TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { TerminationDetail } from './detail.ts';

export class ExternalTermination implements TerminationStrategy {
  private requested: string | undefined;

  /** Asks the run to stop after the message in flight. */
  set(explanation = 'stopped from outside the run'): void {
    this.requested = explanation;
  }

  get isSet(): boolean {
    return this.requested !== undefined;
  }

  shouldTerminate(): TerminationDecision {
    return this.requested === undefined
      ? { terminate: false, detail: TerminationDetail.external, explanation: 'no stop was requested' }
      : { terminate: true, detail: TerminationDetail.external, explanation: this.requested };
  }

  reset(): void {
    this.requested = undefined;
  }
}
