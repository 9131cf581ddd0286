// Stops when a message (optionally only from some agents) matches a regular expression
// (SK's RegexTerminationStrategy).
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { describeScope, TerminationDetail, watches } from './detail.ts';

export interface RegexTerminationOptions {
  /** A RegExp, or its source (with `flags`). */
  pattern: RegExp | string;
  flags?: string | undefined;
  agents?: readonly string[] | undefined;
  /** @default 'approval' */
  detail?: string | undefined;
}

export class RegexTermination implements TerminationStrategy {
  readonly pattern: RegExp;
  private readonly agents: ReadonlySet<string> | undefined;
  private readonly detail: string;

  constructor(options: RegexTerminationOptions) {
    const source = typeof options.pattern === 'string' ? options.pattern : options.pattern.source;
    const flags = (
      typeof options.pattern === 'string' ? (options.flags ?? '') : options.pattern.flags
    ).replace(/[gy]/g, '');
    // Without g/y a RegExp keeps no lastIndex, so one instance can test every message.
    this.pattern = new RegExp(source, flags);
    this.agents = options.agents ? new Set(options.agents) : undefined;
    this.detail = options.detail ?? TerminationDetail.approval;
  }

  shouldTerminate({ agent, message }: TerminationContext): TerminationDecision {
    if (!watches(this.agents, agent.name)) {
      return {
        terminate: false,
        detail: this.detail,
        explanation: `only ${describeScope(this.agents)} can end the run with ${String(this.pattern)}`,
      };
    }
    const match = this.pattern.exec(message.text);
    return match
      ? {
          terminate: true,
          detail: this.detail,
          explanation: `${agent.name}'s message matched ${String(this.pattern)} ("${match[0]}")`,
        }
      : {
          terminate: false,
          detail: this.detail,
          explanation: `${agent.name}'s message did not match ${String(this.pattern)}`,
        };
  }
}
