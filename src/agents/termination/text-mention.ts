// Stops when a message (optionally only from some agents) contains `text`: the seed's approval
// rule ("APPROVED" from the reviewer). Case-sensitive unless `ignoreCase`.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import { describeScope, TerminationDetail, watches } from './detail.ts';

export interface TextMentionTerminationOptions {
  text: string;
  /** Only messages from these agents count. @default every agent */
  agents?: readonly string[] | undefined;
  ignoreCase?: boolean | undefined;
  /** @default 'approval' */
  detail?: string | undefined;
}

export class TextMentionTermination implements TerminationStrategy {
  private readonly text: string;
  private readonly agents: ReadonlySet<string> | undefined;
  private readonly ignoreCase: boolean;
  private readonly detail: string;

  constructor(options: TextMentionTerminationOptions) {
    if (options.text.length === 0) throw new Error('text-mention termination needs a non-empty text');
    this.text = options.text;
    this.agents = options.agents ? new Set(options.agents) : undefined;
    this.ignoreCase = options.ignoreCase ?? false;
    this.detail = options.detail ?? TerminationDetail.approval;
  }

  shouldTerminate({ agent, message }: TerminationContext): TerminationDecision {
    if (!watches(this.agents, agent.name)) {
      return {
        terminate: false,
        detail: this.detail,
        explanation: `only ${describeScope(this.agents)} can end the run with "${this.text}"`,
      };
    }
    const found = this.ignoreCase
      ? message.text.toLowerCase().includes(this.text.toLowerCase())
      : message.text.includes(this.text);
    return found
      ? { terminate: true, detail: this.detail, explanation: `${agent.name} wrote "${this.text}"` }
      : { terminate: false, detail: this.detail, explanation: `${agent.name} did not write "${this.text}"` };
  }
}
