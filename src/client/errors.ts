// The SDK's one error type: a server `error` frame (its code, retryable, retryAfterMs) or a
// client-side failure with a code of its own (timeout, disconnected, closed …).
import type { ErrorCode } from '../protocol/codes.ts';

/** Codes of failures the client itself detects (the server's codes are protocol.md's). */
export const ClientErrorCode = {
  /** No reply within the request's timeout. */
  timeout: 'timeout',
  /** The connection was lost before the reply came; the request may or may not have been handled. */
  disconnected: 'disconnected',
  /** The client was closed (by `close()`, or for good by the server: see `ChorusClient.state`). */
  closed: 'closed',
  /** The server closed with a code that says not to reconnect (4500–4999, 1008, 1009). */
  rejected: 'rejected',
  /** The token expired (close 4001) and no token provider can give a new one. */
  tokenExpired: 'token-expired',
  /** The server speaks another protocol version (`incompatible`). */
  incompatible: 'incompatible',
  /** The server sent something the protocol does not allow (a delta out of sequence …). */
  protocol: 'protocol',
  /** The frame would exceed the server's frame limit (`welcome.limits.maxFrameBytes`). */
  frameTooLarge: 'frame-too-large',
  /** The token provider threw. */
  token: 'token',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ChorusError extends Error {
  override readonly name = 'ChorusError';
  /** A protocol error code (protocol.md) or a ClientErrorCode. */
  readonly code: ErrorCode | ClientErrorCode;
  /** Whether the same request may succeed later, unchanged. */
  readonly retryable: boolean;
  /** For `rate-limited`: wait at least this long. */
  readonly retryAfterMs: number | undefined;
  readonly threadId: string | undefined;

  constructor(
    code: ErrorCode | ClientErrorCode,
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number; threadId?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.threadId = options.threadId;
  }
}
