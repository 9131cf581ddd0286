// Chorus thread events → AG-UI events, for one run: each agent message is a text message with the
// agent's name; its tool calls and results, and its reasoning, become AG-UI's tool-call and
// reasoning events inside it; the run's end is RUN_FINISHED, or RUN_ERROR when it failed or was
// interrupted. Stored Chorus messages become AG-UI messages for MESSAGES_SNAPSHOT.
import {
  EventType,
  type AssistantMessage,
  type BaseEvent,
  type Message as AgUiMessage,
  type ToolCall,
} from '@ag-ui/core';
import type { Message, ThreadEvent } from '../../protocol/frames.ts';

type Event<T extends ThreadEvent['type']> = Extract<ThreadEvent, { type: T }>;

/** The AG-UI id of a tool result's message (AG-UI gives results a message of their own). */
const resultMessageId = (toolCallId: string) => `${toolCallId}.result`;
const reasoningId = (messageId: string) => `${messageId}.reasoning`;

interface OpenMessage {
  /** Tool calls started and not yet ended. */
  toolCalls: Set<string>;
  reasoning: boolean;
}

export class AgUiRunTranslator {
  private readonly threadId: string;
  /** The AG-UI runId (the client's). */
  private readonly runId: string;
  private readonly open = new Map<string, OpenMessage>();

  constructor(threadId: string, runId: string) {
    this.threadId = threadId;
    this.runId = runId;
  }

  /** The AG-UI events for one Chorus event of the run (none for events AG-UI has no word for). */
  translate(event: ThreadEvent): BaseEvent[] {
    switch (event.type) {
      case 'message-start':
        this.open.set(event.messageId, { toolCalls: new Set(), reasoning: false });
        return [
          {
            type: EventType.TEXT_MESSAGE_START,
            messageId: event.messageId,
            role: 'assistant',
            name: event.agent,
          },
        ];
      case 'message-delta':
        return this.delta(event);
      case 'message-end':
        return this.end(event.messageId);
      case 'run-end':
        return this.runEnd(event);
      default:
        return [];
    }
  }

  private delta(event: Event<'message-delta'>): BaseEvent[] {
    const open = this.open.get(event.messageId);
    if (!open || event.snapshot) return [];
    const { messageId } = event;
    const events: BaseEvent[] = [];
    if (event.reasoning) {
      if (!open.reasoning) {
        open.reasoning = true;
        events.push(
          { type: EventType.REASONING_START, messageId: reasoningId(messageId) },
          { type: EventType.REASONING_MESSAGE_START, messageId: reasoningId(messageId), role: 'reasoning' },
        );
      }
      events.push({
        type: EventType.REASONING_MESSAGE_CONTENT,
        messageId: reasoningId(messageId),
        delta: event.reasoning,
      });
    }
    if ((event.text || event.toolCall || event.toolResult) && open.reasoning) {
      events.push(...this.endReasoning(messageId, open));
    }
    if (event.text) events.push({ type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta: event.text });
    if (event.toolCall) {
      const { toolCallId, name, arguments: fragment } = event.toolCall;
      if (!open.toolCalls.has(toolCallId)) {
        open.toolCalls.add(toolCallId);
        events.push({
          type: EventType.TOOL_CALL_START,
          toolCallId,
          toolCallName: name ?? '',
          parentMessageId: messageId,
        });
      }
      if (fragment) events.push({ type: EventType.TOOL_CALL_ARGS, toolCallId, delta: fragment });
    }
    if (event.toolResult) {
      const { toolCallId, output } = event.toolResult;
      if (open.toolCalls.delete(toolCallId)) events.push({ type: EventType.TOOL_CALL_END, toolCallId });
      events.push({
        type: EventType.TOOL_CALL_RESULT,
        messageId: resultMessageId(toolCallId),
        toolCallId,
        content: output,
        role: 'tool',
      });
    }
    return events;
  }

  private end(messageId: string): BaseEvent[] {
    const open = this.open.get(messageId);
    if (!open) return [];
    this.open.delete(messageId);
    return [
      ...(open.reasoning ? this.endReasoning(messageId, open) : []),
      ...[...open.toolCalls].map((toolCallId) => ({ type: EventType.TOOL_CALL_END, toolCallId })),
      { type: EventType.TEXT_MESSAGE_END, messageId },
    ];
  }

  private endReasoning(messageId: string, open: OpenMessage): BaseEvent[] {
    open.reasoning = false;
    return [
      { type: EventType.REASONING_MESSAGE_END, messageId: reasoningId(messageId) },
      { type: EventType.REASONING_END, messageId: reasoningId(messageId) },
    ];
  }

  private runEnd(event: Event<'run-end'>): BaseEvent[] {
    // A message still open (the run ended without its message-end reaching this stream) is closed.
    const closing = [...this.open.keys()].flatMap((messageId) => this.end(messageId));
    if (event.reason === 'failed' || event.reason === 'interrupted') {
      return [
        ...closing,
        {
          type: EventType.RUN_ERROR,
          message:
            event.reason === 'failed'
              ? `the run failed${event.detail ? `: ${event.detail}` : ''}`
              : 'the run was interrupted (its instance stopped); its post counts as answered: post again, under a new message id, to ask again',
          code: event.reason,
        },
      ];
    }
    return [...closing, this.finished()];
  }

  finished(): BaseEvent {
    return { type: EventType.RUN_FINISHED, threadId: this.threadId, runId: this.runId };
  }
}

/** A thread's stored messages as AG-UI messages (tool results as tool messages after their call's). */
export function toAgUiMessages(messages: readonly Message[]): AgUiMessage[] {
  const result: AgUiMessage[] = [];
  for (const message of messages) {
    if (message.role === 'user') {
      // Under the id its client gave it (an AG-UI client matches its messages by id); the
      // clientMessageId is unique in the thread.
      const id = message.clientMessageId ?? message.id;
      result.push({ id, role: 'user', content: message.text, name: message.author });
      continue;
    }
    const toolCalls: ToolCall[] = [];
    const toolResults: AgUiMessage[] = [];
    for (const part of message.parts ?? []) {
      if (part.type === 'tool-call') {
        toolCalls.push({
          id: part.toolCallId,
          type: 'function',
          function: { name: part.name, arguments: part.arguments },
        });
      } else if (part.type === 'tool-result') {
        toolResults.push({
          id: resultMessageId(part.toolCallId),
          role: 'tool',
          toolCallId: part.toolCallId,
          content: part.output,
          ...(part.isError ? { error: part.output } : {}),
        });
      }
    }
    const assistant: AssistantMessage = {
      id: message.id,
      role: 'assistant',
      name: message.author,
      content: message.text,
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
    };
    result.push(assistant, ...toolResults);
  }
  return result;
}
