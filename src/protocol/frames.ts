// The wire protocol v1 as zod schemas: the single source of truth for every frame.
// Inbound (client → server) schemas are strict and bounded; outbound schemas are tolerant
// (`.loose()`), so that adding an optional field never breaks a reader.
import { z } from 'zod';
import { ErrorCode, MessageStatus, RunEndReason } from './codes.ts';

export const MAX_ID = 128;
/** How many of a thread's latest run-ends it keeps, for `subscribe.runId` (protocol.md). */
export const RECENT_RUN_ENDS = 8;
const MAX_TEXT = 32_768;

/**
 * A string of at most `max` characters counted in Unicode code points (as JSON Schema's maxLength
 * counts them), not UTF-16 units: 64 emoji are 64 characters. Too long is `too_big` (`too-large`).
 */
export function maxCodePoints(schema: z.ZodString, max: number) {
  return schema
    .check((context) => {
      if (context.value.length > max && [...context.value].length > max) {
        context.issues.push({
          code: 'too_big',
          origin: 'string',
          maximum: max,
          inclusive: true,
          input: context.value,
          message: `Too big: expected string to have <=${max} characters`,
        });
      }
    })
    .meta({ maxLength: max });
}

export const id = z
  .string()
  .min(1)
  .max(MAX_ID)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : - only');
const requestId = maxCodePoints(z.string().min(1), MAX_ID);
const cursor = maxCodePoints(z.string().min(1), 256);

// ---------------------------------------------------------------------------------------------
// Message content: typed parts of a stored message and typed fields of a delta.

export const Usage = z
  .object({
    inputTokens: z.number().int().nonnegative(),
    outputTokens: z.number().int().nonnegative(),
    totalTokens: z.number().int().nonnegative(),
  })
  .loose();
export type Usage = z.infer<typeof Usage>;

export const Annotation = z
  .object({
    kind: z.enum(['url-citation', 'file-citation', 'file-path', 'container-file-citation']),
    url: z.string().optional(),
    title: z.string().optional(),
    fileId: z.string().optional(),
    filename: z.string().optional(),
    quote: z.string().optional(),
    startIndex: z.number().int().optional(),
    endIndex: z.number().int().optional(),
  })
  .loose();
export type Annotation = z.infer<typeof Annotation>;

export const FileReference = z
  .object({ fileId: z.string(), filename: z.string().optional(), mediaType: z.string().optional() })
  .loose();
export type FileReference = z.infer<typeof FileReference>;

export const Part = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }).loose(),
  z
    .object({ type: z.literal('tool-call'), toolCallId: z.string(), name: z.string(), arguments: z.string() })
    .loose(),
  z
    .object({
      type: z.literal('tool-result'),
      toolCallId: z.string(),
      name: z.string(),
      output: z.string(),
      isError: z.boolean().optional(),
    })
    .loose(),
  z.object({ type: z.literal('annotation'), annotation: Annotation }).loose(),
  z.object({ type: z.literal('file'), file: FileReference }).loose(),
  z.object({ type: z.literal('reasoning'), text: z.string() }).loose(),
  z.object({ type: z.literal('refusal'), text: z.string() }).loose(),
]);
export type Part = z.infer<typeof Part>;

/** The typed content one `message-delta` may carry; every field is optional, at least one is set. */
export const DeltaContent = z
  .object({
    text: z.string().optional(),
    toolCall: z
      .object({
        toolCallId: z.string(),
        index: z.number().int().optional(),
        name: z.string().optional(),
        arguments: z.string().optional(),
      })
      .loose()
      .optional(),
    toolResult: z
      .object({
        toolCallId: z.string(),
        name: z.string(),
        output: z.string(),
        isError: z.boolean().optional(),
      })
      .loose()
      .optional(),
    annotation: Annotation.optional(),
    file: FileReference.optional(),
    reasoning: z.string().optional(),
    refusal: z.string().optional(),
  })
  .loose();
export type DeltaContent = z.infer<typeof DeltaContent>;

export const Message = z
  .object({
    id: z.string(),
    role: z.string(),
    author: z.string(),
    text: z.string(),
    status: z.enum([
      MessageStatus.completed,
      MessageStatus.cancelled,
      MessageStatus.failed,
      MessageStatus.interrupted,
    ]),
    createdAt: z.string(),
    runId: z.string().optional(),
    clientMessageId: z.string().optional(),
    parts: z.array(Part).optional(),
    usage: Usage.optional(),
    error: z.object({ code: z.string(), message: z.string() }).loose().optional(),
  })
  .loose();
export type Message = z.infer<typeof Message>;

// ---------------------------------------------------------------------------------------------
// Client → server.

export const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: z.number().int(),
  token: maxCodePoints(z.string(), 8192).optional(),
  user: maxCodePoints(z.string().min(1), 64).optional(),
  requestId: requestId.optional(),
});
export const CreateThread = z.strictObject({
  type: z.literal('create-thread'),
  requestId,
  threadId: id.optional(),
  team: maxCodePoints(z.string().min(1), MAX_ID).optional(),
  metadata: z.record(maxCodePoints(z.string(), 64), maxCodePoints(z.string(), 1024)).optional(),
});
export const Subscribe = z.strictObject({
  type: z.literal('subscribe'),
  requestId,
  threadId: id,
  cursor: cursor.optional(),
  /** The run this client saw active before a drop: `subscribed.runEnd` says how it ended, if it did. */
  runId: id.optional(),
});
export const Unsubscribe = z.strictObject({ type: z.literal('unsubscribe'), requestId, threadId: id });
export const Post = z.strictObject({
  type: z.literal('post'),
  requestId,
  threadId: id,
  clientMessageId: id,
  text: maxCodePoints(z.string().min(1), MAX_TEXT),
});
export const Cancel = z.strictObject({ type: z.literal('cancel'), requestId, threadId: id });
export const History = z.strictObject({
  type: z.literal('history'),
  requestId,
  threadId: id,
  before: cursor.optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});
export const DeleteThread = z.strictObject({ type: z.literal('delete-thread'), requestId, threadId: id });
export const Ping = z.strictObject({ type: z.literal('ping'), requestId: requestId.optional() });

export const ClientFrame = z.discriminatedUnion('type', [
  Hello,
  CreateThread,
  Subscribe,
  Unsubscribe,
  Post,
  Cancel,
  History,
  DeleteThread,
  Ping,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;
export type ClientFrameType = ClientFrame['type'];
export const clientFrameTypes = ClientFrame.options.map((option) => option.shape.type.value);

// ---------------------------------------------------------------------------------------------
// Server → client.

const threadId = z.string();
const loose = <T extends z.ZodRawShape>(shape: T) => z.object(shape).loose();

export const Welcome = loose({
  type: z.literal('welcome'),
  protocol: z.number(),
  sessionId: z.string(),
  instanceId: z.string(),
  heartbeatMs: z.number(),
  user: z.string(),
  requestId: z.string().optional(),
  limits: loose({
    maxFrameBytes: z.number(),
    maxSubscriptions: z.number(),
    historyPageLimit: z.number(),
  }).optional(),
});
export const Incompatible = loose({
  type: z.literal('incompatible'),
  reason: z.string(),
  requestId: z.string().optional(),
});
export const ErrorFrame = loose({
  type: z.literal('error'),
  requestId: z.string().optional(),
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
  retryable: z.boolean(),
  threadId: z.string().optional(),
  retryAfterMs: z.number().optional(),
});
export const ThreadCreated = loose({
  type: z.literal('thread-created'),
  requestId: z.string(),
  threadId,
  existing: z.boolean(),
  team: z.string().optional(),
});
export const Subscribed = loose({
  type: z.literal('subscribed'),
  requestId: z.string(),
  threadId,
  recovered: z.boolean(),
  cursor: z.string().nullable(),
  backlog: z.number().int(),
  truncated: z.boolean(),
  epoch: z.string().optional(),
  /** The thread's most recent run-end, as it was sent (absent before its first run ended). */
  lastRunEnd: z.lazy(() => RunEnd).optional(),
  /** The run-end of `subscribe.runId`, when that run is among the thread's last RECENT_RUN_ENDS run-ends. */
  runEnd: z.lazy(() => RunEnd).optional(),
});
export const Unsubscribed = loose({ type: z.literal('unsubscribed'), requestId: z.string(), threadId });
export const Posted = loose({
  type: z.literal('posted'),
  requestId: z.string(),
  threadId,
  messageId: z.string(),
  cursor: z.string(),
  duplicate: z.boolean(),
  queued: z.boolean(),
});
export const Cancelled = loose({
  type: z.literal('cancelled'),
  requestId: z.string(),
  threadId,
  runId: z.string().nullable(),
});
export const HistoryPage = loose({
  type: z.literal('history-page'),
  requestId: z.string(),
  threadId,
  items: z.array(loose({ cursor: z.string(), message: Message })),
  hasMore: z.boolean(),
});
export const ThreadDeletedReply = loose({
  type: z.literal('thread-deleted'),
  requestId: z.string().optional(),
  threadId,
});
export const Pong = loose({ type: z.literal('pong'), requestId: z.string().optional() });

// Thread events.
export const MessageEvent = loose({
  type: z.literal('message'),
  threadId,
  cursor: z.string(),
  message: Message,
});
export const RunStart = loose({
  type: z.literal('run-start'),
  threadId,
  runId: z.string(),
  team: z.string().optional(),
  /** The user messages (ids) this run answers, oldest first. */
  posts: z.array(z.string()).optional(),
  trigger: z.string().optional(),
});
export const MessageStart = loose({
  type: z.literal('message-start'),
  threadId,
  runId: z.string(),
  messageId: z.string(),
  agent: z.string(),
  createdAt: z.string().optional(),
});
export const MessageDelta = loose({
  type: z.literal('message-delta'),
  threadId,
  messageId: z.string(),
  seq: z.number().int().nonnegative(),
  snapshot: z.boolean().optional(),
  parts: z.array(Part).optional(),
  ...DeltaContent.shape,
});
export const MessageEnd = loose({
  type: z.literal('message-end'),
  threadId,
  messageId: z.string(),
  cursor: z.string(),
  message: Message,
});
export const RunEnd = loose({
  type: z.literal('run-end'),
  threadId,
  runId: z.string(),
  reason: z.enum(Object.values(RunEndReason) as [RunEndReason, ...RunEndReason[]]),
  detail: z.string().optional(),
  /** A human-readable reason (e.g. the judge's), safe to show. */
  explanation: z.string().optional(),
});
export const RunQueued = loose({
  type: z.literal('run-queued'),
  threadId,
  messageId: z.string(),
  position: z.number().int(),
});

export const ServerFrame = z.discriminatedUnion('type', [
  Welcome,
  Incompatible,
  ErrorFrame,
  ThreadCreated,
  Subscribed,
  Unsubscribed,
  Posted,
  Cancelled,
  HistoryPage,
  ThreadDeletedReply,
  Pong,
  MessageEvent,
  RunStart,
  MessageStart,
  MessageDelta,
  MessageEnd,
  RunEnd,
  RunQueued,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export const serverFrameTypes = ServerFrame.options.map((option) => option.shape.type.value);

/** Events that go to every subscriber of a thread (and, across instances, through the live bus). */
export type ThreadEvent =
  | z.infer<typeof MessageEvent>
  | z.infer<typeof RunStart>
  | z.infer<typeof MessageStart>
  | z.infer<typeof MessageDelta>
  | z.infer<typeof MessageEnd>
  | z.infer<typeof RunEnd>
  | z.infer<typeof RunQueued>
  | { type: 'thread-deleted'; threadId: string };
export type ErrorFrame = z.infer<typeof ErrorFrame>;
