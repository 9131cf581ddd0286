// The three error kinds that cross module boundaries, each with a stable `code`, whether the same
// action may be retried unchanged, and optionally when (`retryAfterMs`):
// - RequestError: a client request refused with a protocol error code (the gateway sends it as is);
// - StoreError: the store could not do what was asked (Redis unreachable, lease lost, …);
// - ModelError: a model call failed (classified for retry by model-retry.ts).
import { retryableErrorCodes, type ErrorCode } from './protocol/codes.ts';

interface ErrorDetail extends ErrorOptions {
  /** Overrides the kind's default for this code. */
  retryable?: boolean | undefined;
  retryAfterMs?: number | undefined;
  /** Over HTTP, this status instead of the code's (405 for a method the path does not take). */
  httpStatus?: number | undefined;
}

/** A request-level failure with a protocol error code, turned into an `error` frame by the gateway. */
export class RequestError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly httpStatus: number | undefined;
  constructor(code: ErrorCode, message: string, detail: ErrorDetail = {}) {
    super(message, detail);
    this.name = 'RequestError';
    this.code = code;
    this.retryable = detail.retryable ?? retryableErrorCodes.has(code);
    this.retryAfterMs = detail.retryAfterMs;
    this.httpStatus = detail.httpStatus;
  }
}

export const StoreErrorCode = {
  /** The thread does not exist (never did, was deleted, or the store lost it). */
  notFound: 'not-found',
  /** The store did not answer, or answered with an error: the outcome of a write is unknown. */
  unavailable: 'unavailable',
  /** A fenced write was refused: the caller no longer holds the thread's run lease. */
  leaseLost: 'lease-lost',
  /** The write does not fit the thread's state (for example a run record that is not the caller's). */
  conflict: 'conflict',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(code: StoreErrorCode, message: string, detail: ErrorDetail = {}) {
    super(message, detail);
    this.name = 'StoreError';
    this.code = code;
    this.retryable = detail.retryable ?? code === StoreErrorCode.unavailable;
    this.retryAfterMs = detail.retryAfterMs;
  }
}

/** A model failure with a stable code, classified for retry. */
export class ModelError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(
    code: string,
    message: string,
    retryable: boolean,
    options?: ErrorOptions & { retryAfterMs?: number },
  ) {
    super(message, options);
    this.name = 'ModelError';
    this.code = code;
    this.retryable = retryable;
    this.retryAfterMs = options?.retryAfterMs;
  }
}
