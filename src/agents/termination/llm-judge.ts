// LLM judge (SK's KernelFunctionTerminationStrategy): after a message (optionally only from some
// agents) a model reads the conversation and answers yes or no with a reason. The question is
// streamed (never a non-streaming call). The answer is parsed leniently ("Yes: …", "**No.** …",
// `{"terminate": true, "reason": "…"}`); one that says neither is asked again up to `maxRetries`
// times, then the run goes on.
import type { TerminationContext, TerminationDecision, TerminationStrategy } from '../group-chat.ts';
import type { ModelClient } from '../model-client.ts';
import { askModel, promptMessage, recent, stripDecoration } from '../selection/ask-model.ts';
import { describeScope, TerminationDetail, watches } from './detail.ts';

export interface LlmJudgeTerminationOptions {
  model: ModelClient;
  /** When the conversation is done, in words (for example "the reviewer approved the answer"). */
  instructions?: string | undefined;
  /** Only messages from these agents are judged. @default every agent */
  agents?: readonly string[] | undefined;
  /** Most recent messages the judge reads. @default 30 */
  historyLimit?: number | undefined;
  /** Questions asked again after an answer that is neither yes nor no. @default 1 */
  maxRetries?: number | undefined;
  maxOutputTokens?: number | undefined;
}

export interface Verdict {
  terminate: boolean;
  reason: string;
}

const DEFAULT_CRITERIA =
  'The conversation is done when the request has been answered well enough that no participant needs to add anything.';

export class LlmJudgeTermination implements TerminationStrategy {
  readonly model: ModelClient;
  private readonly options: LlmJudgeTerminationOptions;
  private readonly agents: ReadonlySet<string> | undefined;

  constructor(options: LlmJudgeTerminationOptions) {
    this.model = options.model;
    this.options = options;
    this.agents = options.agents ? new Set(options.agents) : undefined;
  }

  async shouldTerminate(context: TerminationContext): Promise<TerminationDecision> {
    const detail = TerminationDetail.judge;
    if (!watches(this.agents, context.agent.name)) {
      return {
        terminate: false,
        detail,
        explanation: `the judge only rules after ${describeScope(this.agents)}`,
      };
    }
    const messages = [...recent(context.history, this.options.historyLimit ?? 30)];
    messages.push(
      promptMessage(
        'user',
        'chorus',
        'Is the conversation done? Answer "yes" or "no", a colon, then one sentence why.',
      ),
    );
    const answers: string[] = [];
    const attempts = 1 + (this.options.maxRetries ?? 1);
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const { text } = await askModel(this.model, {
        name: 'judge',
        instructions: judgePrompt(this.options.instructions),
        messages: [...messages],
        ...(this.options.maxOutputTokens === undefined
          ? {}
          : { maxOutputTokens: this.options.maxOutputTokens }),
        signal: context.signal,
      });
      answers.push(text);
      const verdict = parseVerdict(text);
      if (verdict) {
        const reason =
          verdict.reason ||
          (verdict.terminate
            ? 'the judge said the conversation is done'
            : 'the judge said the conversation goes on');
        return { terminate: verdict.terminate, detail, explanation: reason };
      }
      messages.push(promptMessage('assistant', 'judge', text));
      messages.push(
        promptMessage('user', 'chorus', 'Answer with "yes" or "no" first, then a colon and the reason.'),
      );
    }
    return {
      terminate: false,
      detail,
      explanation: `the judge answered neither yes nor no (${JSON.stringify(answers.at(-1)?.slice(0, 200) ?? '')}); the run goes on`,
    };
  }
}

function judgePrompt(criteria: string | undefined): string {
  return [
    'You decide whether a group chat is finished.',
    (criteria ?? DEFAULT_CRITERIA).trim(),
    '',
    'Answer "yes" if it is finished or "no" if it is not, then a colon and one sentence giving the reason.',
  ].join('\n');
}

const YES = new Set(['yes', 'y', 'true', 'done', 'finished', 'terminate', 'stop']);
const NO = new Set(['no', 'n', 'false', 'continue', 'not']);

/** A judge's yes/no and reason, or undefined when the answer says neither. */
export function parseVerdict(answer: string): Verdict | undefined {
  const json = parseJsonVerdict(answer);
  if (json) return json;
  const cleaned = stripDecoration(answer).replace(
    /^(answer|verdict|decision|done|finished|terminate)\s*[:=-]\s*/i,
    '',
  );
  const match = /^([a-z]+)\b[\s.,:;!)\]—–-]*(.*)$/is.exec(cleaned);
  if (!match) return undefined;
  const word = match[1]!.toLowerCase();
  const reason = match[2]!.replace(/^because\s+/i, '').trim();
  if (YES.has(word)) return { terminate: true, reason };
  if (NO.has(word)) return { terminate: false, reason };
  return undefined;
}

function parseJsonVerdict(answer: string): Verdict | undefined {
  const start = answer.indexOf('{');
  const end = answer.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(answer.slice(start, end + 1));
  } catch {
    return undefined; // not JSON: the plain-text forms are tried next
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const flag = ['terminate', 'done', 'finished', 'stop', 'approved', 'answer', 'verdict']
    .map((key) => record[key])
    .find((entry) => entry !== undefined);
  const reasonValue = record.reason ?? record.explanation ?? record.why;
  const reason = typeof reasonValue === 'string' ? reasonValue.trim() : '';
  if (typeof flag === 'boolean') return { terminate: flag, reason };
  if (typeof flag === 'string') {
    const word = flag.trim().toLowerCase();
    if (YES.has(word)) return { terminate: true, reason };
    if (NO.has(word)) return { terminate: false, reason };
  }
  return undefined;
}
