// Resilience shared by the OpenAI model clients: provider errors → ModelError with stable codes,
// retries before the first event with capped full-jitter backoff honouring Retry-After, a
// per-turn timeout, a circuit breaker per endpoint and a concurrency cap on model streams.
// The SDK's own retries are off (`maxRetries: 0`): a retry after tokens were streamed would
// duplicate text, so only this module decides.
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { Semaphore } from './concurrency.ts';
import { ModelError } from '../errors.ts';
import type { ModelEvent } from './model-client.ts';

/** Stable codes of ModelError (stored in a failed message's `error.code`, shown in run-end detail). */
export const ModelErrorCode = {
  rateLimited: 'rate-limited',
  quotaExceeded: 'quota-exceeded',
  serverError: 'server-error',
  connection: 'connection',
  timeout: 'timeout',
  badRequest: 'bad-request',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not-found',
  conflict: 'conflict',
  unprocessable: 'unprocessable',
  badResponse: 'bad-response',
  providerError: 'provider-error',
  unavailable: 'unavailable',
  aborted: 'aborted',
  toolRoundsExceeded: 'tool-rounds-exceeded',
} as const;
export type ModelErrorCode = (typeof ModelErrorCode)[keyof typeof ModelErrorCode];

// Messages are generic on purpose: they end up in stored messages every viewer sees. The
// provider's own message stays available as the error's `cause` for logs.
const SAFE_MESSAGES: Record<string, string> = {
  'rate-limited': 'the model provider rate-limited the request',
  'quota-exceeded': 'the model provider quota is exhausted',
  'server-error': 'the model provider had an internal error',
  connection: 'the connection to the model provider failed',
  timeout: 'the model did not answer in time',
  'bad-request': 'the model provider rejected the request',
  unauthorized: 'the model provider rejected the credentials',
  forbidden: 'the model provider refused access',
  'not-found': 'the model or endpoint was not found',
  conflict: 'the model provider reported a conflict',
  unprocessable: 'the model provider could not process the request',
  'bad-response': 'the model provider sent a response Chorus cannot read',
  'provider-error': 'the model provider reported an error',
  aborted: 'the model request was aborted',
};

/** A ModelError with the safe message for its code. */
export function modelError(
  code: string,
  retryable: boolean,
  options?: ErrorOptions & { retryAfterMs?: number; message?: string },
): ModelError {
  const message = options?.message ?? SAFE_MESSAGES[code] ?? `the model failed (${code})`;
  return new ModelError(code, message, retryable, options);
}

/** Maps whatever a model call threw to a ModelError with a stable code and a retry verdict. */
export function toModelError(error: unknown): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof APIConnectionTimeoutError) return modelError('timeout', true, { cause: error });
  if (error instanceof APIUserAbortError) return modelError('aborted', false, { cause: error });
  if (error instanceof APIConnectionError) return modelError('connection', true, { cause: error });
  if (error instanceof APIError) return fromAPIError(error);
  // A body that breaks off after the headers (socket reset, "terminated") surfaces from fetch.
  if (error instanceof TypeError) return modelError('connection', true, { cause: error });
  if (error instanceof SyntaxError) return modelError('bad-response', false, { cause: error });
  return modelError('provider-error', false, { cause: error });
}

function fromAPIError(error: APIError): ModelError {
  const retryAfterMs = parseRetryAfter(error.headers);
  const options = { cause: error, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  const status = error.status;
  if (status === undefined) return fromErrorCode(error.code ?? error.type, error);
  if (status === 400) return modelError('bad-request', false, options);
  if (status === 401) return modelError('unauthorized', false, options);
  if (status === 403) return modelError('forbidden', false, options);
  if (status === 404) return modelError('not-found', false, options);
  if (status === 408) return modelError('timeout', true, options);
  if (status === 409) return modelError('conflict', true, options);
  if (status === 422) return modelError('unprocessable', false, options);
  if (status === 429) {
    // OpenAI answers 429 both for "slow down" and for an exhausted quota; only the first passes.
    return error.code === 'insufficient_quota'
      ? modelError('quota-exceeded', false, options)
      : modelError('rate-limited', true, options);
  }
  if (status >= 500) return modelError('server-error', true, options);
  return modelError('provider-error', false, options);
}

/**
 * An error reported inside a stream (an SSE `error` event, `response.failed`): classified by the
 * provider's code, e.g. `server_error`, `rate_limit_exceeded`, `invalid_prompt`. Unknown codes are
 * kept, in kebab-case, so that a failed message says what happened.
 */
export function fromErrorCode(code: string | null | undefined, cause?: unknown): ModelError {
  const options = cause === undefined ? {} : { cause };
  switch (code) {
    case 'server_error':
    case 'internal_error':
      return modelError('server-error', true, options);
    case 'rate_limit_exceeded':
    case 'rate_limit_error':
      return modelError('rate-limited', true, options);
    case 'insufficient_quota':
      return modelError('quota-exceeded', false, options);
    case 'invalid_prompt':
    case 'invalid_request_error':
      return modelError('bad-request', false, options);
    case null:
    case undefined:
    case '':
      return modelError('provider-error', false, options);
    default: {
      const kebab = code
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 64);
      return modelError(kebab || 'provider-error', false, options);
    }
  }
}

/**
 * Milliseconds the provider asks to wait: `retry-after-ms` (OpenAI's), else `Retry-After` in
 * seconds or as an HTTP date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const milliseconds = headers.get('retry-after-ms');
  if (milliseconds !== null && milliseconds.trim() !== '') {
    const value = Number(milliseconds);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const retryAfter = headers.get('retry-after');
  if (retryAfter === null || retryAfter.trim() === '') return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface RetryOptions {
  /** Attempts in all, the first included. @default 3 */
  maxAttempts?: number | undefined;
  /** First backoff ceiling; doubles per attempt. @default 500 */
  baseDelayMs?: number | undefined;
  /** Backoff ceiling. @default 8000 */
  maxDelayMs?: number | undefined;
  /** A Retry-After longer than this is not waited for: the error is thrown at once. @default 30000 */
  maxRetryAfterMs?: number | undefined;
  /** Random source in [0, 1) for the jitter. @default Math.random */
  random?: (() => number) | undefined;
  /** Waits between attempts (tests replace it to observe the delay). @default an abortable timer */
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

/** Full jitter: a uniformly random wait below the capped exponential ceiling. */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 8000;
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor((options.random ?? Math.random)() * ceiling);
}

/** The wait before the next attempt, or undefined when the provider asks for too long a pause. */
export function retryDelay(
  attempt: number,
  error: ModelError,
  options: RetryOptions = {},
): number | undefined {
  if (error.retryAfterMs !== undefined) {
    return error.retryAfterMs <= (options.maxRetryAfterMs ?? 30_000) ? error.retryAfterMs : undefined;
  }
  return backoffDelay(attempt, options);
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** How a model client guards its calls; every field is optional. */
export interface ModelCallPolicy {
  retry?: RetryOptions | undefined;
  /** Budget of one model call (waiting for a permit, retries and streaming). @default 120000 */
  timeoutMs?: number | undefined;
  /** The endpoint's circuit breaker. */
  breaker?: CircuitBreaker | undefined;
  /** The instance's cap on concurrent model streams. */
  concurrency?: Semaphore | undefined;
}

/** Failures that say the provider is in trouble (they count toward opening the circuit). */
function isProviderFailure(error: ModelError): boolean {
  return error.code === 'server-error' || error.code === 'connection' || error.code === 'timeout';
}

/**
 * Runs `open` under the policy and yields its events. `open` receives a signal that aborts on the
 * caller's abort and on the timeout, and must pass it to the HTTP request. A failure before the
 * first event is retried when retryable; a failure after it is thrown (the caller keeps the
 * partial content). Throws the caller's `signal.reason` when the caller aborted.
 */
export async function* streamWithPolicy(
  policy: ModelCallPolicy,
  signal: AbortSignal,
  open: (signal: AbortSignal) => AsyncIterable<ModelEvent>,
): AsyncGenerator<ModelEvent, void, undefined> {
  signal.throwIfAborted();
  const retry = policy.retry ?? {};
  const maxAttempts = Math.max(1, retry.maxAttempts ?? 3);
  const sleep = retry.sleep ?? abortableSleep;
  const timeoutMs = policy.timeoutMs ?? 120_000;
  const timeoutError = modelError('timeout', false, {
    message: `the model did not finish within ${timeoutMs} ms`,
  });
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(timeoutError), timeoutMs);
  const failure = (error: unknown): unknown => {
    if (signal.aborted) return signal.reason;
    if (controller.signal.aborted) return timeoutError;
    return toModelError(error);
  };

  try {
    for (let attempt = 1; ; attempt += 1) {
      policy.breaker?.enter();
      let release: (() => void) | undefined;
      let wait: number;
      let yielded = false;
      try {
        release = await policy.concurrency?.acquire(controller.signal);
        for await (const event of open(controller.signal)) {
          yielded = true;
          yield event;
        }
        controller.signal.throwIfAborted();
        policy.breaker?.recordSuccess();
        return;
      } catch (error) {
        const thrown = failure(error);
        if (!(thrown instanceof ModelError)) {
          policy.breaker?.recordNeutral();
          throw thrown;
        }
        if (isProviderFailure(thrown)) policy.breaker?.recordFailure();
        else policy.breaker?.recordSuccess();
        const delay = retryDelay(attempt, thrown, retry);
        if (yielded || !thrown.retryable || attempt >= maxAttempts || delay === undefined) throw thrown;
        wait = delay;
      } finally {
        release?.();
      }
      try {
        await sleep(wait, controller.signal);
      } catch (error) {
        throw failure(error);
      }
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
