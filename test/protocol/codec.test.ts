// decodeClientFrame is the one boundary where wire JSON is parsed: it never throws, it accepts every
// valid frame, and it turns everything else into the error code protocol.md promises.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeClientFrame,
  encodeServerFrame,
  errorFrame,
  type DecodeResult,
} from '../../src/protocol/codec.ts';
import { ErrorCode, retryableErrorCodes } from '../../src/protocol/codes.ts';
import {
  ClientFrame,
  clientFrameTypes,
  ServerFrame,
  type ClientFrameType,
} from '../../src/protocol/frames.ts';

/** One valid frame of every client frame type, with every optional field set. */
const validFrames: Record<ClientFrameType, Record<string, unknown>> = {
  hello: { type: 'hello', protocol: 1, token: 'eyJhbGciOi.x.y', user: 'ada', requestId: 'h-1' },
  'create-thread': {
    type: 'create-thread',
    requestId: 'r-1',
    threadId: 'thread_1.a:b-c',
    team: 'demo',
    metadata: { topic: 'picnic' },
  },
  subscribe: { type: 'subscribe', requestId: 'r-2', threadId: 't1', cursor: 'epoch.12' },
  unsubscribe: { type: 'unsubscribe', requestId: 'r-3', threadId: 't1' },
  post: { type: 'post', requestId: 'r-4', threadId: 't1', clientMessageId: 'c-1', text: 'Plan a picnic' },
  cancel: { type: 'cancel', requestId: 'r-5', threadId: 't1' },
  history: { type: 'history', requestId: 'r-6', threadId: 't1', before: 'epoch.3', limit: 20 },
  'delete-thread': { type: 'delete-thread', requestId: 'r-7', threadId: 't1' },
  ping: { type: 'ping', requestId: 'r-8' },
};

function decode(value: unknown): DecodeResult {
  return decodeClientFrame(JSON.stringify(value));
}

function failure(result: DecodeResult): Extract<DecodeResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a decode error, got a ${result.frame.type} frame`);
  return result;
}

const errorCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/** What every decode result must satisfy, whatever the input. */
function checkResultShape(result: DecodeResult): void {
  if (result.ok) {
    expect(ClientFrame.safeParse(result.frame).success).toBe(true);
    return;
  }
  expect(errorCodes.has(result.code)).toBe(true);
  expect(typeof result.message).toBe('string');
  expect(result.message.length).toBeLessThanOrEqual(200);
  if (result.requestId !== undefined) expect(result.requestId.length).toBeLessThanOrEqual(128);
}

describe('decodeClientFrame: valid frames', () => {
  it('covers every client frame type', () => {
    expect(Object.keys(validFrames).sort()).toEqual([...clientFrameTypes].sort());
  });

  it.each(clientFrameTypes)('decodes a valid %s frame unchanged', (type) => {
    const result = decode(validFrames[type]);
    expect(result).toEqual({ ok: true, frame: validFrames[type] });
  });

  it('decodes frames with only the required fields', () => {
    expect(decode({ type: 'hello', protocol: 1 }).ok).toBe(true);
    expect(decode({ type: 'create-thread', requestId: 'r' }).ok).toBe(true);
    expect(decode({ type: 'subscribe', requestId: 'r', threadId: 't' }).ok).toBe(true);
    expect(decode({ type: 'history', requestId: 'r', threadId: 't' }).ok).toBe(true);
    expect(decode({ type: 'ping' }).ok).toBe(true);
  });
});

describe('decodeClientFrame: errors', () => {
  it.each(['', 'not json', '{', '{"type":"ping"', "{'type':'ping'}", '\u0000', '[1,'])(
    'answers bad-json without requestId to %j',
    (raw) => {
      const result = failure(decodeClientFrame(raw));
      expect(result.code).toBe(ErrorCode.badJson);
      expect(result.requestId).toBeUndefined();
    },
  );

  it.each([['null'], ['42'], ['"hello"'], ['true'], ['[]'], ['[{"type":"ping"}]']])(
    'answers bad-frame to the non-object %s',
    (raw) => {
      const result = failure(decodeClientFrame(raw));
      expect(result.code).toBe(ErrorCode.badFrame);
      expect(result.requestId).toBeUndefined();
    },
  );

  it('answers bad-frame to an object without a string type, echoing a readable requestId', () => {
    expect(failure(decode({ requestId: 'r-1' }))).toMatchObject({
      code: ErrorCode.badFrame,
      requestId: 'r-1',
    });
    expect(failure(decode({ type: 7, requestId: 'r-2' }))).toMatchObject({
      code: ErrorCode.badFrame,
      requestId: 'r-2',
    });
    expect(failure(decode({ type: null }))).toMatchObject({ code: ErrorCode.badFrame });
    expect(failure(decode({})).requestId).toBeUndefined();
  });

  it('answers unknown-type to a type no client frame has, echoing the requestId', () => {
    const result = failure(decode({ type: 'what', requestId: 'q' }));
    expect(result).toMatchObject({ code: ErrorCode.unknownType, requestId: 'q' });
    expect(result.message).toContain('what');
  });

  it('treats server frame types sent by a client as unknown', () => {
    expect(failure(decode({ type: 'welcome', requestId: 'q' })).code).toBe(ErrorCode.unknownType);
    expect(failure(decode({ type: 'message-delta' })).code).toBe(ErrorCode.unknownType);
  });

  it('keeps a huge unknown type out of the message', () => {
    const result = failure(decode({ type: 'x'.repeat(10_000) }));
    expect(result.code).toBe(ErrorCode.unknownType);
    expect(result.message.length).toBeLessThan(100);
  });

  it('answers bad-frame to a known type with a missing or malformed field, echoing the requestId', () => {
    expect(failure(decode({ type: 'post', requestId: 'p', threadId: 't', text: 'hi' }))).toMatchObject({
      code: ErrorCode.badFrame,
      requestId: 'p',
    });
    expect(failure(decode({ type: 'subscribe', requestId: 's', threadId: 'has space' }))).toMatchObject({
      code: ErrorCode.badFrame,
      requestId: 's',
    });
    expect(failure(decode({ type: 'hello', protocol: '1' })).code).toBe(ErrorCode.badFrame);
    expect(failure(decode({ type: 'history', requestId: 'h', threadId: 't', limit: 0 })).code).toBe(
      ErrorCode.badFrame,
    );
    expect(
      failure(decode({ type: 'post', requestId: 'p', threadId: 't', clientMessageId: 'c', text: '' })).code,
    ).toBe(ErrorCode.badFrame);
  });

  it('answers bad-frame to an unknown field (client frames are strict)', () => {
    const result = failure(decode({ ...validFrames.cancel, extra: true }));
    expect(result).toMatchObject({ code: ErrorCode.badFrame, requestId: 'r-5' });
  });

  it('answers too-large to a field over its bound', () => {
    const longText = { ...validFrames.post, text: 'x'.repeat(32_769) };
    expect(failure(decode(longText))).toMatchObject({ code: ErrorCode.tooLarge, requestId: 'r-4' });
    expect(failure(decode({ ...validFrames.history, limit: 5000 })).code).toBe(ErrorCode.tooLarge);
    expect(failure(decode({ ...validFrames.subscribe, threadId: 't'.repeat(129) })).code).toBe(
      ErrorCode.tooLarge,
    );
    expect(failure(decode({ ...validFrames.hello, user: 'u'.repeat(65) })).code).toBe(ErrorCode.tooLarge);
  });

  it('accepts the largest values within bounds', () => {
    expect(decode({ ...validFrames.post, text: 'x'.repeat(32_768) }).ok).toBe(true);
    expect(decode({ ...validFrames.subscribe, threadId: 't'.repeat(128) }).ok).toBe(true);
    expect(decode({ ...validFrames.history, limit: 1000 }).ok).toBe(true);
  });

  it('does not echo a requestId that is not a string or is too long', () => {
    expect(failure(decode({ type: 'what', requestId: 42 })).requestId).toBeUndefined();
    expect(failure(decode({ type: 'what', requestId: 'r'.repeat(129) })).requestId).toBeUndefined();
    expect(failure(decode({ type: 'what', requestId: 'r'.repeat(128) })).requestId).toBe('r'.repeat(128));
  });

  it('does not let prototype keys through', () => {
    const result = decodeClientFrame('{"type":"ping","__proto__":{"polluted":true}}');
    expect(result.ok).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('decodeClientFrame: properties', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (raw) => {
        checkResultShape(decodeClientFrame(raw));
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary JSON values, and answers non-objects with bad-frame', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const result = decodeClientFrame(JSON.stringify(value));
        checkResultShape(result);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          expect(result).toMatchObject({ ok: false, code: ErrorCode.badFrame });
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on objects shaped like frames, and echoes every readable requestId on errors', () => {
    const frameLike = fc.record(
      {
        type: fc.oneof(fc.constantFrom(...clientFrameTypes, 'welcome', ''), fc.string(), fc.integer()),
        requestId: fc.oneof(fc.string({ minLength: 1, maxLength: 128 }), fc.integer(), fc.constant(null)),
        threadId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,130}$/), fc.string(), fc.integer()),
        clientMessageId: fc.string({ maxLength: 140 }),
        text: fc.string({ maxLength: 50 }),
        cursor: fc.string({ maxLength: 260 }),
        protocol: fc.oneof(fc.integer(), fc.double(), fc.string()),
        limit: fc.oneof(fc.integer(), fc.double()),
        extra: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(frameLike, (value) => {
        const result = decode(value);
        checkResultShape(result);
        if (!result.ok && typeof value.requestId === 'string' && typeof value.type === 'string') {
          expect(result.requestId).toBe(value.requestId);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('decodes every frame the schema accepts to an equal frame', () => {
    const posts = fc.record({
      type: fc.constant('post' as const),
      requestId: fc.string({ minLength: 1, maxLength: 128 }),
      threadId: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/),
      clientMessageId: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/),
      text: fc.string({ minLength: 1, maxLength: 2000 }),
    });
    fc.assert(
      fc.property(posts, (frame) => {
        expect(decode(frame)).toEqual({ ok: true, frame });
      }),
      { numRuns: 500 },
    );
  });
});

describe('errorFrame and encodeServerFrame', () => {
  it('sets retryable from the code and echoes the requestId', () => {
    for (const code of Object.values(ErrorCode)) {
      const frame = errorFrame(code, 'm', 'r-1');
      expect(frame).toMatchObject({
        type: 'error',
        code,
        requestId: 'r-1',
        retryable: retryableErrorCodes.has(code),
      });
      expect(ServerFrame.safeParse(frame).success).toBe(true);
    }
  });

  it('omits requestId when there is none and adds extra fields', () => {
    const frame = errorFrame(ErrorCode.rateLimited, 'slow down', undefined, {
      threadId: 't',
      retryAfterMs: 200,
    });
    expect('requestId' in frame).toBe(false);
    expect(frame).toEqual({
      type: 'error',
      code: 'rate-limited',
      message: 'slow down',
      retryable: true,
      threadId: 't',
      retryAfterMs: 200,
    });
  });

  it('encodes a server frame as one JSON object that the server schema reads back', () => {
    const frame = { type: 'pong', requestId: 'r' } as const;
    const text = encodeServerFrame(frame);
    expect(JSON.parse(text)).toEqual(frame);
    expect(ServerFrame.safeParse(JSON.parse(text)).success).toBe(true);
  });

  it('server frames tolerate fields a later server adds', () => {
    const frame = {
      type: 'run-end',
      threadId: 't',
      runId: 'r',
      reason: 'terminated',
      detail: 'approval',
      future: 1,
    };
    expect(ServerFrame.safeParse(frame).success).toBe(true);
  });
});
