// A post of this client and its delivery: `pending` (queued while offline, or sent and awaiting
// `posted`, retried with the same clientMessageId — the server stores it once), `sent` (stored;
// messageId and cursor known) or `failed` (refused, or out of attempts; `retry()` puts it back).
import type { ChorusError } from './errors.ts';

export const PostState = { pending: 'pending', sent: 'sent', failed: 'failed' } as const;
export type PostState = (typeof PostState)[keyof typeof PostState];

export interface PostResult {
  messageId: string;
  /** The stored message's cursor (not a resume point: see protocol.md, Cursors). */
  cursor: string;
  /** The server had stored it already (an earlier attempt got through). */
  duplicate: boolean;
  /** A run was active: the message waits for the next run. */
  queued: boolean;
}

export interface OutgoingPost {
  readonly threadId: string;
  readonly clientMessageId: string;
  readonly text: string;
  /** When `post()` was called (ISO 8601). */
  readonly createdAt: string;
  readonly state: PostState;
  /** Attempts that got an answer or timed out (sends lost with a connection do not count). */
  readonly attempts: number;
  readonly messageId: string | null;
  readonly result: PostResult | null;
  /** Why it failed (or the last retryable error while pending). */
  readonly error: ChorusError | null;
  /** Resolves when sent; rejects with the ChorusError when failed (made on first use). */
  readonly done: Promise<PostResult>;
  /** A failed post: try again (same clientMessageId). */
  retry(): void;
  /** Gives up on a pending or failed post: no further attempt (one in flight may still be stored). */
  discard(): void;
}

/** What the thread that owns a post may do to it. */
export interface PostControl {
  readonly post: OutgoingPost;
  readonly discarded: boolean;
  attempted(error: ChorusError | null): void;
  sent(result: PostResult): void;
  failed(error: ChorusError): void;
}

export function createOutgoingPost(
  fields: { threadId: string; clientMessageId: string; text: string },
  hooks: { onChange: (post: OutgoingPost) => void; onRetry: () => void; onDiscard: () => void },
): PostControl {
  let state: PostState = PostState.pending;
  let attempts = 0;
  let result: PostResult | null = null;
  let error: ChorusError | null = null;
  let discarded = false;
  let deferred:
    | {
        promise: Promise<PostResult>;
        resolve: (value: PostResult) => void;
        reject: (reason: ChorusError) => void;
      }
    | undefined;

  const settle = () => {
    if (!deferred) return;
    if (state === PostState.sent && result) deferred.resolve(result);
    else if (state === PostState.failed && error) deferred.reject(error);
  };

  const post: OutgoingPost = {
    threadId: fields.threadId,
    clientMessageId: fields.clientMessageId,
    text: fields.text,
    createdAt: new Date().toISOString(),
    get state() {
      return state;
    },
    get attempts() {
      return attempts;
    },
    get messageId() {
      return result?.messageId ?? null;
    },
    get result() {
      return result;
    },
    get error() {
      return error;
    },
    get done() {
      if (!deferred) {
        let resolve!: (value: PostResult) => void;
        let reject!: (reason: ChorusError) => void;
        const promise = new Promise<PostResult>((onResolve, onReject) => {
          resolve = onResolve;
          reject = onReject;
        });
        deferred = { promise, resolve, reject };
        settle();
      }
      return deferred.promise;
    },
    retry() {
      if (state !== PostState.failed || discarded) return;
      state = PostState.pending;
      error = null;
      attempts = 0;
      deferred = undefined;
      hooks.onChange(post);
      hooks.onRetry();
    },
    discard() {
      if (state === PostState.sent || discarded) return;
      discarded = true;
      hooks.onDiscard();
    },
  };

  return {
    post,
    get discarded() {
      return discarded;
    },
    attempted(attemptError) {
      if (state !== PostState.pending) return;
      attempts += 1;
      error = attemptError;
      hooks.onChange(post);
    },
    sent(value) {
      if (state === PostState.sent) return;
      state = PostState.sent;
      result = value;
      error = null;
      settle();
      hooks.onChange(post);
    },
    failed(reason) {
      if (state !== PostState.pending) return;
      state = PostState.failed;
      error = reason;
      settle();
      hooks.onChange(post);
    },
  };
}
