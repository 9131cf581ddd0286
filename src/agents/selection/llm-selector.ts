// LLM selection (SK's KernelFunctionSelectionStrategy, AutoGen's SelectorGroupChat): a model reads
// the conversation and names the next speaker. The question is streamed (never a non-streaming
// call); the answer is parsed leniently (quotes, markdown, punctuation, "Next: writer."); an answer
// that names no agent is asked again up to `maxRetries` times, then the fallback picks — where SK
// raises and ends the chat.
import type { Agent } from '../agent.ts';
import type { SelectionContext, SelectionStrategy } from '../group-chat.ts';
import type { ModelClient } from '../model-client.ts';
import { askModel, promptMessage, recent, stripDecoration } from './ask-model.ts';
import { escapeRegExp } from './mention.ts';
import { SequentialSelection } from './sequential.ts';

export interface LlmSelectionOptions {
  model: ModelClient;
  /** Rules for the choice, added to the built-in prompt (for example "after the writer, the reviewer"). */
  instructions?: string | undefined;
  /** Questions asked again after an answer that names no agent. @default 2 */
  maxRetries?: number | undefined;
  /** Picks when the model never names an agent. @default new SequentialSelection() */
  fallback?: SelectionStrategy | undefined;
  /** Most recent messages the model reads. @default 30 */
  historyLimit?: number | undefined;
  /** Whether the agent that spoke last may be chosen again. @default true */
  allowRepeatedSpeaker?: boolean | undefined;
  maxOutputTokens?: number | undefined;
  /** Called with every decision (for logs and tests). */
  onDecision?: ((decision: LlmSelectionDecision) => void) | undefined;
}

export interface LlmSelectionDecision {
  agent: string;
  /** The model's answers, one per attempt. */
  answers: string[];
  /** True when the fallback strategy chose because no answer named an agent. */
  fallback: boolean;
}

export class LlmSelection implements SelectionStrategy {
  readonly model: ModelClient;
  readonly fallback: SelectionStrategy;
  private readonly options: LlmSelectionOptions;

  constructor(options: LlmSelectionOptions) {
    this.options = options;
    this.model = options.model;
    this.fallback = options.fallback ?? new SequentialSelection();
  }

  async select(context: SelectionContext): Promise<Agent> {
    const { agents, lastAgent, signal } = context;
    const allowRepeated = this.options.allowRepeatedSpeaker ?? true;
    const candidates =
      !allowRepeated && lastAgent !== undefined && agents.length > 1
        ? agents.filter((agent) => agent !== lastAgent)
        : agents;
    const names = candidates.map((agent) => agent.name);
    const messages = [...recent(context.history, this.options.historyLimit ?? 30)];
    messages.push(
      promptMessage('user', 'chorus', `Who speaks next? Answer with one name: ${names.join(', ')}.`),
    );
    const answers: string[] = [];
    const attempts = 1 + (this.options.maxRetries ?? 2);
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const { text } = await askModel(this.model, {
        name: 'selector',
        instructions: selectorPrompt(candidates, this.options.instructions),
        messages: [...messages],
        ...(this.options.maxOutputTokens === undefined
          ? {}
          : { maxOutputTokens: this.options.maxOutputTokens }),
        signal,
      });
      answers.push(text);
      const name = parseAgentName(text, names);
      if (name !== undefined) {
        const agent = candidates.find((candidate) => candidate.name === name)!;
        this.options.onDecision?.({ agent: agent.name, answers, fallback: false });
        return agent;
      }
      messages.push(promptMessage('assistant', 'selector', text));
      messages.push(
        promptMessage(
          'user',
          'chorus',
          `"${text.trim()}" is not one of the participants. Answer with exactly one of: ${names.join(', ')}.`,
        ),
      );
    }
    const agent = await this.fallback.select({ ...context, agents: candidates });
    this.options.onDecision?.({ agent: agent.name, answers, fallback: true });
    return agent;
  }

  reset(): void {
    this.fallback.reset?.();
  }
}

function selectorPrompt(agents: readonly Agent[], rules: string | undefined): string {
  const lines = agents.map((agent) => `- ${agent.name}${agent.description ? `: ${agent.description}` : ''}`);
  return [
    'You choose who speaks next in a group chat.',
    'Participants:',
    ...lines,
    ...(rules ? ['', rules.trim()] : []),
    '',
    'Read the conversation and answer with the name of the next participant only, nothing else.',
  ].join('\n');
}

/**
 * The one agent name an answer gives, or undefined: the whole answer (without quotes, markdown and
 * punctuation) compared case-insensitively, else the only name that appears in it as a word.
 */
export function parseAgentName(answer: string, names: readonly string[]): string | undefined {
  const cleaned = stripDecoration(answer);
  const bare = cleaned.replace(/^[\s@.,:;!?()[\]{}-]+|[\s.,:;!?()[\]{}-]+$/g, '').toLowerCase();
  const exact = names.find((name) => name.toLowerCase() === bare);
  if (exact !== undefined) return exact;
  const found = names.filter((name) =>
    new RegExp(`(?<![\\w-])@?${escapeRegExp(name)}(?![\\w-])`, 'i').test(cleaned),
  );
  return found.length === 1 ? found[0] : undefined;
}
