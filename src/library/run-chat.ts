// Drives the one GroupChat implementation for the library: streams its events as library items,
// appends finished messages to the caller's history, and turns a failed or cancelled turn into
// an error after the message (with its status) is kept.
import { RunAbort, type GroupChat, type GroupChatEvent } from '../agents/group-chat.ts';
import { ModelError } from '../errors.ts';
import type { DeltaContent, Message } from '../protocol/frames.ts';
import { MessageStatus, RunEndReason } from '../protocol/codes.ts';

/** One streamed fragment of an agent's message; `agentName` changes when the author changes. */
export interface StreamingChatItem {
  agentName: string;
  role: 'assistant';
  /** The id the finished message will have. */
  messageId: string;
  /** The text this fragment adds ('' when it carries something else: a tool call, a citation …). */
  content: string;
  /** The typed fragment (text, tool-call arguments, tool result, annotation, file, reasoning …). */
  delta: DeltaContent;
}

/** How a run ended. */
export interface RunOutcome {
  reason: RunEndReason;
  detail?: string | undefined;
  explanation?: string | undefined;
}

/** A turn that failed at the model: the failed message is kept in the history first. */
export class AgentInvokeError extends Error {
  readonly code: string;
  readonly agentName: string;
  readonly failedMessage: Message;

  constructor(message: Message) {
    super(`agent ${message.author} failed: ${message.error?.message ?? 'unknown error'}`);
    this.name = 'AgentInvokeError';
    this.code = message.error?.code ?? 'agent-error';
    this.agentName = message.author;
    this.failedMessage = message;
  }
}

export interface DriveOptions {
  chat: GroupChat;
  history: () => readonly Message[];
  onMessage: (message: Message) => void;
  onEnd: (outcome: RunOutcome) => void;
  signal: AbortSignal | undefined;
  conversationKey: string;
}

export async function* drive(options: DriveOptions): AsyncGenerator<StreamingChatItem, void, void> {
  const signal = options.signal ?? new AbortController().signal;
  const authors = new Map<string, string>();
  let failed: Message | undefined;
  for await (const event of options.chat.run({
    history: options.history(),
    signal,
    conversationKey: options.conversationKey,
  })) {
    switch (event.type) {
      case 'message-start':
        authors.set(event.messageId, event.agent);
        break;
      case 'message-delta':
        yield {
          agentName: authors.get(event.messageId) ?? '',
          role: 'assistant',
          messageId: event.messageId,
          content: event.delta.text ?? '',
          delta: event.delta,
        };
        break;
      case 'message-end':
        options.onMessage(event.message);
        if (event.message.status === MessageStatus.failed) failed = event.message;
        break;
      case 'run-end':
        options.onEnd(outcome(event));
        if (failed) throw new AgentInvokeError(failed);
        if (event.reason === RunEndReason.failed) {
          throw new ModelError(
            event.detail ?? 'failed',
            `the run failed: ${event.explanation ?? event.detail ?? 'unknown error'}`,
            false,
          );
        }
        if (event.reason === RunEndReason.cancelled || event.reason === RunEndReason.interrupted) {
          throw signal.reason instanceof Error ? signal.reason : new RunAbort('cancelled');
        }
        break;
      default:
        event satisfies never;
    }
  }
}

function outcome(event: Extract<GroupChatEvent, { type: 'run-end' }>): RunOutcome {
  return {
    reason: event.reason,
    ...(event.detail === undefined ? {} : { detail: event.detail }),
    ...(event.explanation === undefined ? {} : { explanation: event.explanation }),
  };
}
