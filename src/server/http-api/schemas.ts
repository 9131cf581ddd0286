// The `/v1` API's bodies as zod schemas, made from the WebSocket frames' (same fields, same bounds):
// the request schemas parse what clients send, the response schemas document what they get, and
// both feed the OpenAPI document (openapi.ts).
import { z } from 'zod';
import {
  Cancel,
  CreateThread,
  ErrorFrame,
  History,
  HistoryPage,
  Message,
  Post,
  Subscribe,
  ThreadCreated,
} from '../../protocol/frames.ts';

export const CreateThreadBody = CreateThread.omit({ type: true, requestId: true });
export type CreateThreadBody = z.infer<typeof CreateThreadBody>;

export const PostBody = z.strictObject({ text: Post.shape.text });

/** `Idempotency-Key`: the post's `clientMessageId`. */
export const IdempotencyKey = Post.shape.clientMessageId;

export const ThreadId = Cancel.shape.threadId;

export const HistoryQuery = z.strictObject({
  before: History.shape.before,
  // Each check names its own bound: a schema-wide error would say "must be a whole number" of 1001.
  limit: z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'at least 1' })
    .max(1000, { error: 'at most 1000' })
    .optional(),
});

export const StreamQuery = z.strictObject({ cursor: History.shape.before, runId: Subscribe.shape.runId });

export const ThreadCreatedBody = ThreadCreated.omit({ type: true, requestId: true });

export const ThreadBody = z
  .object({
    threadId: z.string(),
    team: z.string(),
    metadata: z.record(z.string(), z.string()),
    createdAt: z.string(),
    epoch: z.string(),
  })
  .loose();

export const HistoryPageBody = HistoryPage.omit({ type: true, requestId: true });

export const PostedBody = z
  .object({
    threadId: z.string(),
    messageId: z.string(),
    cursor: z.string(),
    duplicate: z.boolean(),
    queued: z.boolean(),
    message: Message,
  })
  .loose();

export const CancelledBody = z.object({ threadId: z.string(), runId: z.string().nullable() }).loose();

export const DeletedBody = z.object({ threadId: z.string() }).loose();

export const ErrorBody = ErrorFrame.pick({ code: true, message: true, retryable: true, retryAfterMs: true });
