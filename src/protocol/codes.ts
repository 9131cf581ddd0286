// Stable vocabularies of the wire protocol: error codes, close codes, statuses and reasons.
// Every string here is part of the public contract documented in protocol.md.

export const ErrorCode = {
  badJson: 'bad-json',
  badFrame: 'bad-frame',
  unknownType: 'unknown-type',
  notReady: 'not-ready',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not-found',
  busy: 'busy',
  rateLimited: 'rate-limited',
  tooLarge: 'too-large',
  unavailable: 'unavailable',
  internal: 'internal',
  /** A per-connection limit (subscriptions) would be exceeded. */
  limitExceeded: 'limit-exceeded',
  /** The client used a cursor or option that does not fit the thread's state. */
  conflict: 'conflict',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Whether a client may retry a request that got this error code unchanged. */
export const retryableErrorCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.busy,
  ErrorCode.rateLimited,
  ErrorCode.unavailable,
  ErrorCode.internal,
]);

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  tooLarge: 1009,
  internalError: 1011,
  tokenExpired: 4001,
  slowConsumer: 4008,
  heartbeatTimeout: 4009,
  helloTimeout: 4010,
  /** Live delivery lost continuity (for example Redis pub/sub reconnected): resume by cursor. */
  liveGap: 4011,
  /** The instance is draining / its store is unavailable: reconnect to another instance. */
  tryAgainLater: 4013,
  unauthorized: 4501,
  incompatible: 4502,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const MessageStatus = {
  completed: 'completed',
  cancelled: 'cancelled',
  failed: 'failed',
  interrupted: 'interrupted',
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

export const RunEndReason = {
  terminated: 'terminated',
  maxIterations: 'max-iterations',
  cancelled: 'cancelled',
  failed: 'failed',
  interrupted: 'interrupted',
} as const;
export type RunEndReason = (typeof RunEndReason)[keyof typeof RunEndReason];

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = 'chorus.v1';
