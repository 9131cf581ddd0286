// What every JSON-over-HTTP entry point (the `/v1` API, AG-UI) shares: the bearer token read with the
// gateway's authenticator, request bodies read within CHORUS_MAX_FRAME_BYTES and parsed by a zod
// schema, the protocol's error codes as HTTP statuses, and per-user request rates.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { Config } from '../../config.ts';
import { RequestError } from '../../errors.ts';
import { AuthFailure, type Authenticator, type Principal } from '../../gateway/auth.ts';
import { errorReply } from '../../gateway/requests.ts';
import { createRequestLimiters, type RequestLimiters } from '../../gateway/rate-limiter.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { ErrorCode } from '../../protocol/codes.ts';
import type { ErrorFrame } from '../../protocol/frames.ts';

/** The HTTP status of each protocol error code. */
export const errorStatus: Record<ErrorCode, number> = {
  [ErrorCode.badJson]: 400,
  [ErrorCode.badFrame]: 400,
  [ErrorCode.unknownType]: 400,
  [ErrorCode.notReady]: 400,
  [ErrorCode.unauthorized]: 401,
  [ErrorCode.forbidden]: 403,
  [ErrorCode.notFound]: 404,
  [ErrorCode.busy]: 409,
  [ErrorCode.conflict]: 409,
  [ErrorCode.tooLarge]: 413,
  [ErrorCode.rateLimited]: 429,
  [ErrorCode.limitExceeded]: 429,
  [ErrorCode.internal]: 500,
  [ErrorCode.unavailable]: 503,
};

/** A method the path does not take: 405 (its `Allow` header is the route headers'), code bad-frame. */
export function methodNotAllowed(message: string): RequestError {
  return new RequestError(ErrorCode.badFrame, message, { httpStatus: 405 });
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  response
    .writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) })
    .end(data);
}

/** `{code, message, retryable, retryAfterMs?}` with the code's status (and `Retry-After` when known). */
export function sendError(
  response: ServerResponse,
  { logger, metrics }: Answering,
  error: unknown,
  log: Record<string, unknown>,
): void {
  const { code, message, retryable, retryAfterMs } = errorReply({ logger }, error, log);
  metrics.errors.inc({ code, transport: 'http' });
  const body: Pick<ErrorFrame, 'code' | 'message' | 'retryable' | 'retryAfterMs'> = {
    code,
    message,
    retryable,
    ...(retryAfterMs ? { retryAfterMs } : {}),
  };
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (retryAfterMs) response.setHeader('retry-after', String(Math.ceil(retryAfterMs / 1000)));
  const status = error instanceof RequestError && error.httpStatus ? error.httpStatus : errorStatus[code];
  sendJson(response, status, body);
}

/**
 * Runs a request's handler and answers whatever it throws with the protocol error (a body left
 * unread is drained first). `log` names the request in the log line of an internal error.
 */
export function answer(
  request: IncomingMessage,
  response: ServerResponse,
  answering: Answering,
  handler: () => Promise<void>,
): void {
  const log = { method: request.method, url: request.url };
  Promise.resolve()
    .then(handler)
    .catch((error: unknown) => {
      request.resume();
      sendError(response, answering, error, log);
    });
}

/** What answering an error needs: where to log it and where to count it. */
export interface Answering {
  logger: Logger;
  metrics: Metrics;
}

/** A percent-encoded path segment, decoded; a malformed escape (`%E0%A4%A`) is `bad-frame`. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new RequestError(ErrorCode.badFrame, 'the path has a malformed percent-escape');
  }
}

/** Reads the body (at most `maxBytes`, else `too-large`) and parses it as JSON then with `schema`. */
export async function readBody<T extends z.ZodType>(
  request: IncomingMessage,
  schema: T,
  maxBytes: number,
): Promise<z.infer<T>> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new RequestError(ErrorCode.tooLarge, `the body is over ${maxBytes} bytes`);
  // A body in another type is refused, so that a cross-site form or text/plain POST (sent by a
  // browser without a preflight) never reaches an endpoint that takes JSON.
  const type = request.headers['content-type'];
  if (type !== undefined && !isJsonType(type)) {
    throw new RequestError(ErrorCode.badFrame, `the body must be application/json, not ${type.slice(0, 60)}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new RequestError(ErrorCode.tooLarge, `the body is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new RequestError(ErrorCode.badJson, 'the body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(body)';
    const code = issue?.code === 'too_big' ? ErrorCode.tooLarge : ErrorCode.badFrame;
    throw new RequestError(code, `${path}: ${issue?.message ?? 'invalid'}`.slice(0, 200));
  }
  return parsed.data;
}

/**
 * The caller, from `Authorization: Bearer <token>` (verified as a `hello.token` is): `unauthorized`
 * when missing, refused or expired, `unavailable` when the keys cannot be had.
 */
export async function authenticate(
  request: IncomingMessage,
  auth: Authenticator,
  logger: Logger,
): Promise<Principal> {
  const header = request.headers.authorization;
  const token = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  const result = await auth.verify(token);
  if (result.ok) return result.principal;
  const refusal = { reason: result.reason, detail: result.detail, url: request.url };
  if (result.reason === AuthFailure.unavailable) {
    logger.warn({ ...refusal, err: result.cause }, 'http request refused');
    throw new RequestError(ErrorCode.unavailable, 'tokens cannot be verified now; retry');
  }
  logger.info(refusal, 'http request refused');
  const message =
    result.reason === AuthFailure.missing
      ? 'a valid token is required (Authorization: Bearer)'
      : result.reason === AuthFailure.expired
        ? 'token expired'
        : `token refused: ${result.detail}`;
  throw new RequestError(ErrorCode.unauthorized, message);
}

/** How many callers' buckets are kept; past it the least recently seen are forgotten. */
const MAX_CALLERS = 10_000;

/**
 * The gateway's rate limits for callers without a connection: one set of buckets per user (the
 * token's `sub`; without authentication, the remote address).
 */
export class CallerLimiters {
  private readonly config: Config;
  private readonly callers = new Map<string, RequestLimiters>();

  constructor(config: Config) {
    this.config = config;
  }

  of(principal: Principal, request: IncomingMessage): RequestLimiters {
    const key = principal.user ?? `address:${request.socket.remoteAddress ?? ''}`;
    let limiters = this.callers.get(key);
    if (limiters) this.callers.delete(key);
    else limiters = createRequestLimiters(this.config);
    this.callers.set(key, limiters);
    if (this.callers.size > MAX_CALLERS) {
      const oldest = this.callers.keys().next().value;
      if (oldest !== undefined) this.callers.delete(oldest);
    }
    return limiters;
  }
}

/** `application/json` or a `+json` type, with or without parameters (`; charset=utf-8`). */
function isJsonType(header: string): boolean {
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}
