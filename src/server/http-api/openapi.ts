// The OpenAPI 3.1 document of the `/v1` API, generated from its zod schemas (schemas.ts, themselves
// made from the WebSocket frames'), served at `/v1/openapi.json` and checked in as
// docs/openapi.json (a test fails when the two drift apart).
import { z } from 'zod';
import { ErrorCode } from '../../protocol/codes.ts';
import { errorStatus } from './http-io.ts';
import {
  CancelledBody,
  CreateThreadBody,
  DeletedBody,
  ErrorBody,
  HistoryPageBody,
  IdempotencyKey,
  PostBody,
  PostedBody,
  ThreadBody,
  ThreadCreatedBody,
  ThreadId,
} from './schemas.ts';
import { HistoryQuery, StreamQuery } from './schemas.ts';

type JsonSchema = Record<string, unknown>;

const schema = (type: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(type, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

const components: Record<string, JsonSchema> = {
  CreateThreadRequest: schema(CreateThreadBody, 'input'),
  PostRequest: schema(PostBody, 'input'),
  ThreadCreated: schema(ThreadCreatedBody, 'output'),
  Thread: schema(ThreadBody, 'output'),
  HistoryPage: schema(HistoryPageBody, 'output'),
  Posted: schema(PostedBody, 'output'),
  Cancelled: schema(CancelledBody, 'output'),
  ThreadDeleted: schema(DeletedBody, 'output'),
  Error: schema(ErrorBody, 'output'),
};

const ref = (name: keyof typeof components) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: keyof typeof components, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(name) } },
});

/** The error responses an operation can give, by the codes it may answer with. */
const errors = (...listed: ErrorCode[]) => {
  const codes = [...new Set(listed)];
  return Object.fromEntries(
    [...new Set(codes.map((code) => errorStatus[code]))].map((status) => [
      String(status),
      json(
        'Error',
        codes
          .filter((code) => errorStatus[code] === status)
          .map((code) => `\`${code}\``)
          .join(', '),
      ),
    ]),
  );
};

/** Every operation's: each request takes a rate-limit token first (protocol.md, Limits). */
const common = [
  ErrorCode.badFrame,
  ErrorCode.unauthorized,
  ErrorCode.rateLimited,
  ErrorCode.unavailable,
  ErrorCode.internal,
];
/** Every operation on a thread's path: the thread id (a path parameter) may be over its 128 characters. */
const onThread = [...common, ErrorCode.forbidden, ErrorCode.notFound, ErrorCode.tooLarge];
const threadIdParameter = { name: 'threadId', in: 'path', required: true, schema: schema(ThreadId, 'input') };
const queryParameters = (query: z.ZodObject) =>
  Object.entries(query.shape).map(([name, type]) => ({
    name,
    in: 'query',
    required: false,
    schema: schema(type as z.ZodType, 'input'),
  }));

export function openApiDocument(basePath: string): JsonSchema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Chorus HTTP API',
      version: '1',
      description:
        'The WebSocket protocol (protocol.md) as HTTP requests and a Server-Sent Events stream; see docs/http.md.',
    },
    servers: [{ url: `${basePath}/v1` }],
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    security: [{ bearer: [] }],
    paths: {
      '/threads': {
        post: {
          operationId: 'createThread',
          summary: 'Create a thread (idempotent with a client-chosen threadId)',
          requestBody: {
            required: false,
            content: { 'application/json': { schema: ref('CreateThreadRequest') } },
          },
          responses: {
            '201': json('ThreadCreated', 'created'),
            '200': json('ThreadCreated', 'the thread exists (existing: true); nothing changed'),
            ...errors(...common, ErrorCode.forbidden, ErrorCode.notFound, ErrorCode.tooLarge),
          },
        },
      },
      '/threads/{threadId}': {
        parameters: [threadIdParameter],
        get: {
          operationId: 'getThread',
          responses: {
            '200': json('Thread', 'the thread'),
            ...errors(...onThread),
          },
        },
        delete: {
          operationId: 'deleteThread',
          summary: 'Delete the thread (an active run is cancelled)',
          responses: {
            '200': json('ThreadDeleted', 'deleted'),
            ...errors(...onThread),
          },
        },
      },
      '/threads/{threadId}/messages': {
        parameters: [threadIdParameter],
        get: {
          operationId: 'history',
          summary: 'A page of history, oldest first: the newest messages before `before`',
          parameters: queryParameters(HistoryQuery),
          responses: {
            '200': json('HistoryPage', 'a page'),
            ...errors(...onThread),
          },
        },
        post: {
          operationId: 'post',
          summary: 'Post a user message; the Idempotency-Key is its clientMessageId',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: true,
              schema: schema(IdempotencyKey, 'input'),
            },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: ref('PostRequest') } } },
          responses: {
            '202': json('Posted', 'stored (or, with duplicate: true, stored before); the run follows'),
            ...errors(...onThread, ErrorCode.busy),
          },
        },
      },
      '/threads/{threadId}/cancel': {
        parameters: [threadIdParameter],
        post: {
          operationId: 'cancel',
          summary: 'Cancel the active run (runId null when none was active)',
          responses: {
            '200': json('Cancelled', 'cancelled'),
            ...errors(...onThread),
          },
        },
      },
      '/threads/{threadId}/stream': {
        parameters: [threadIdParameter],
        get: {
          operationId: 'stream',
          summary:
            "The thread's events as Server-Sent Events, each `data:` a WebSocket frame; resume with Last-Event-ID",
          parameters: [
            ...queryParameters(StreamQuery),
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'the stream: `subscribed`, the backlog, the in-flight snapshot, then live events',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errors(...onThread),
          },
        },
      },
    },
  };
}
