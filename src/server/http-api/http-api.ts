// The HTTP + SSE API under `<basePath>/v1`: the WebSocket protocol's requests as resources, with
// the same authentication (Authorization: Bearer), rate limits, bounds and replies. Every handler
// goes through the same request functions and run transitions as the gateway (gateway/requests.ts,
// RunManager); none touches the store's logic itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { GatewayContext } from '../../gateway/context.ts';
import { createThread, historyPage, requireThread } from '../../gateway/requests.ts';
import { RequestError } from '../../errors.ts';
import { ErrorCode } from '../../protocol/codes.ts';
import { answer, authenticate, CallerLimiters, decodePathSegment, readBody, sendJson } from './http-io.ts';
import { requestUrl } from '../http-routes.ts';
import { requireAccess, requireParticipant } from '../../gateway/auth.ts';
import { openApiDocument } from './openapi.ts';
import {
  CreateThreadBody,
  HistoryQuery,
  IdempotencyKey,
  PostBody,
  StreamQuery,
  ThreadId,
} from './schemas.ts';
import { SseResponse } from './sse.ts';
import { ThreadStream } from './thread-stream.ts';

export interface HttpApi {
  /** Answers `<basePath>/v1/…` and returns true; false (response untouched) for any other path. */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
  /** Ends every open stream (the server is closing). */
  close(): void;
}

type Handler = (
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  threadId: string,
) => Promise<void>;

export function createHttpApi(context: GatewayContext, basePath: string): HttpApi {
  const { config, logger, runs } = context;
  const prefix = `${basePath}/v1`;
  const limiters = new CallerLimiters(config);
  const streams = new Set<SseResponse>();
  const document = JSON.stringify(openApiDocument(basePath));
  const principalOf = (request: IncomingMessage) => authenticate(request, context.auth, logger);

  const createThreadRoute: Handler = async (request, response) => {
    const principal = await principalOf(request);
    const body = await readBody(request, CreateThreadBody, config.maxFrameBytes);
    limiters.of(principal, request).createThread.take();
    const created = await createThread(context, body, principal);
    sendJson(response, created.existing ? 200 : 201, created);
  };

  const getThread: Handler = async (request, response, _url, threadId) => {
    const principal = await principalOf(request);
    limiters.of(principal, request).request.take();
    requireAccess(principal, threadId);
    const thread = await requireThread(context, threadId);
    sendJson(response, 200, {
      threadId,
      team: thread.team,
      metadata: thread.metadata,
      createdAt: thread.createdAt,
      epoch: thread.epoch,
    });
  };

  const deleteThread: Handler = async (request, response, _url, threadId) => {
    const principal = await principalOf(request);
    limiters.of(principal, request).request.take();
    requireParticipant(principal, threadId);
    if (!(await runs.deleteThread(threadId))) throw new RequestError(ErrorCode.notFound, 'thread not found');
    sendJson(response, 200, { threadId });
  };

  const history: Handler = async (request, response, url, threadId) => {
    const principal = await principalOf(request);
    limiters.of(principal, request).request.take();
    requireAccess(principal, threadId);
    const query = parse(HistoryQuery, Object.fromEntries(url.searchParams));
    sendJson(response, 200, {
      threadId,
      ...(await historyPage(context, threadId, query.before, query.limit)),
    });
  };

  const post: Handler = async (request, response, _url, threadId) => {
    const principal = await principalOf(request);
    const body = await readBody(request, PostBody, config.maxFrameBytes);
    const key = request.headers['idempotency-key'];
    if (key === undefined)
      throw new RequestError(ErrorCode.badFrame, 'the Idempotency-Key header is required');
    const clientMessageId = parse(IdempotencyKey, key, 'Idempotency-Key');
    limiters.of(principal, request).post.take();
    requireParticipant(principal, threadId);
    const { item, duplicate, queued } = await runs.post({
      threadId,
      clientMessageId,
      text: body.text,
      author: principal.user ?? 'anonymous',
    });
    sendJson(response, 202, {
      threadId,
      messageId: item.message.id,
      cursor: item.cursor,
      duplicate,
      queued,
      message: item.message,
    });
  };

  const cancel: Handler = async (request, response, _url, threadId) => {
    const principal = await principalOf(request);
    limiters.of(principal, request).request.take();
    requireParticipant(principal, threadId);
    await requireThread(context, threadId);
    sendJson(response, 200, { threadId, runId: await runs.cancel(threadId) });
  };

  const stream: Handler = async (request, response, url, threadId) => {
    const principal = await principalOf(request);
    requireAccess(principal, threadId);
    const lastEventId = request.headers['last-event-id'];
    const query = parse(StreamQuery, Object.fromEntries(url.searchParams));
    const cursor =
      typeof lastEventId === 'string' && lastEventId !== ''
        ? parse(StreamQuery.shape.cursor, lastEventId, 'Last-Event-ID')
        : query.cursor;
    limiters.of(principal, request).subscribe.take();
    await requireThread(context, threadId);
    let expiry: NodeJS.Timeout | undefined;
    const sse: SseResponse = new SseResponse(response, {
      heartbeatMs: config.sseHeartbeatMs,
      maxBufferedBytes: config.maxBufferedBytes,
      onEnd: () => {
        clearTimeout(expiry);
        streams.delete(sse);
        viewer.stop();
      },
    });
    const viewer = new ThreadStream(context, sse, threadId);
    streams.add(sse);
    if (principal.expiresAt !== undefined) {
      const remaining = Math.max(0, principal.expiresAt - Date.now());
      expiry = setTimeout(() => sse.end(), Math.min(remaining, 2 ** 31 - 1));
    }
    await viewer.start(cursor);
  };

  const openApi: Handler = async (_request, response) => {
    response
      .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(document) })
      .end(document);
  };

  /** The handler for a method and path under `/v1`, with the path's thread id. */
  const route = (method: string, path: string): { handler: Handler; threadId: string } | 'method' | null => {
    if (path === '/openapi.json') return method === 'GET' ? { handler: openApi, threadId: '' } : 'method';
    if (path === '/threads')
      return method === 'POST' ? { handler: createThreadRoute, threadId: '' } : 'method';
    const match = /^\/threads\/([^/]+)(\/messages|\/cancel|\/stream)?$/.exec(path);
    if (!match) return null;
    const threadId = decodePathSegment(match[1]!);
    const table: Record<string, Record<string, Handler>> = {
      '': { GET: getThread, DELETE: deleteThread },
      '/messages': { GET: history, POST: post },
      '/cancel': { POST: cancel },
      '/stream': { GET: stream },
    };
    const handler = table[match[2] ?? '']?.[method];
    return handler ? { handler, threadId } : 'method';
  };

  return {
    handle(request, response) {
      const url = requestUrl(request);
      if (!url) return false;
      if (url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`)) return false;
      const method = request.method ?? 'GET';
      answer(request, response, context, async () => {
        const found = route(method, url.pathname.slice(prefix.length));
        if (found === null) throw new RequestError(ErrorCode.notFound, 'no such endpoint');
        if (found === 'method') {
          response.setHeader('allow', 'GET, POST, DELETE');
          throw new RequestError(ErrorCode.badFrame, `${method} is not allowed here`);
        }
        if (found.threadId !== '') parse(ThreadId, found.threadId, 'thread id');
        await found.handler(request, response, url, found.threadId);
      });
      return true;
    },
    close() {
      for (const each of [...streams]) each.end();
    },
  };
}

/** Parses a path, query or header value: `bad-frame` (or `too-large`) naming `what` when invalid. */
function parse<T extends z.ZodType>(schema: T, value: unknown, what?: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = what ?? (issue?.path.map(String).join('.') || 'query');
  const code = issue?.code === 'too_big' ? ErrorCode.tooLarge : ErrorCode.badFrame;
  throw new RequestError(code, `${where}: ${issue?.message ?? 'invalid'}`.slice(0, 200));
}
