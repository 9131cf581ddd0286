// The one place that parses wire JSON. `decodeClientFrame` never throws: it returns either a
// typed frame or the error the client must get, with the `requestId` echoed when one was readable.
import type { z } from 'zod';
import { ErrorCode, PROTOCOL_VERSION, retryableErrorCodes } from './codes.ts';
import { ClientFrame, clientFrameTypes, type ErrorFrame, type ServerFrame } from './frames.ts';

/** The longest `requestId` (in code points) a frame may carry, and so the longest ever echoed. */
const MAX_REQUEST_ID = 128;

export type DecodeResult =
  { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; requestId?: string };

const knownTypes: ReadonlySet<string> = new Set(clientFrameTypes);

export function decodeClientFrame(raw: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: ErrorCode.badJson, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.badFrame, message: 'frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  // Echoed only when it is a valid requestId (1–128 characters), even on a frame invalid otherwise.
  const requestId =
    typeof record.requestId === 'string' &&
    record.requestId.length > 0 &&
    [...record.requestId].length <= MAX_REQUEST_ID
      ? record.requestId
      : undefined;
  const withId = <T extends object>(result: T) =>
    requestId === undefined ? result : { ...result, requestId };
  if (typeof record.type !== 'string') {
    return withId({ ok: false, code: ErrorCode.badFrame, message: 'frame has no string field "type"' });
  }
  if (!knownTypes.has(record.type)) {
    return withId({
      ok: false,
      code: ErrorCode.unknownType,
      message: `unknown frame type "${record.type.slice(0, 64)}"`,
    });
  }
  // A hello of another protocol version is read by its version alone (its other fields may be
  // that version's): it gets `incompatible`, not `bad-frame`.
  if (
    record.type === 'hello' &&
    typeof record.protocol === 'number' &&
    Number.isSafeInteger(record.protocol) &&
    record.protocol !== PROTOCOL_VERSION
  ) {
    return {
      ok: true,
      frame: { type: 'hello', protocol: record.protocol, ...(requestId ? { requestId } : {}) },
    };
  }
  const parsed = ClientFrame.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || '(frame)';
    const tooLarge = issue !== undefined && isTooLarge(issue);
    return withId({
      ok: false,
      code: tooLarge ? ErrorCode.tooLarge : ErrorCode.badFrame,
      message: `${record.type}: ${path}: ${issue?.message ?? 'invalid'}`.slice(0, 200),
    });
  }
  return { ok: true, frame: parsed.data };
}

/** A value over its bound (a string too long, a number too big), also as a record's key. */
function isTooLarge(issue: z.core.$ZodIssue): boolean {
  if (issue.code === 'too_big') return true;
  return issue.code === 'invalid_key' && issue.issues.some(isTooLarge);
}

export function errorFrame(
  code: ErrorCode,
  message: string,
  requestId?: string,
  extra?: Partial<ErrorFrame>,
): ErrorFrame {
  return {
    type: 'error',
    ...(requestId === undefined ? {} : { requestId }),
    code,
    message,
    retryable: retryableErrorCodes.has(code),
    ...extra,
  };
}

export function encodeServerFrame(frame: ServerFrame | { type: string }): string {
  return JSON.stringify(frame);
}
