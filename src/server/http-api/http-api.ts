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
import {
  answer,
  authenticate,
  CallerLimiters,
  decodePathSegment,
  methodNotAllowed,
  readBody,
  sendJson,
} from './http-io.ts';
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
  /**
   * The methods a path takes: null when it is not under `<basePath>/v1`, [] when it is no endpoint
   * there (answered 404).
   */
  methods(pathname: string): readonly string[] | null;
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
    await viewer.start(cursor, query.runId);
  };

  const openApi: Handler = async (_request, response) => {
    response
      .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(document) })
      .end(document);
  };

  const onThread: Record<string, Record<string, Handler>> = {
    '': { GET: getThread, DELETE: deleteThread },
    '/messages': { GET: history, POST: post },
    '/cancel': { POST: cancel },
    '/stream': { GET: stream },
  };

  /** The handlers by method of a path under `/v1`, with its thread id's segment; null: no endpoint. */
  const endpoint = (path: string): { handlers: Record<string, Handler>; segment: string } | null => {
    if (path === '/openapi.json') return { handlers: { GET: openApi }, segment: '' };
    if (path === '/threads') return { handlers: { POST: createThreadRoute }, segment: '' };
    const match = /^\/threads\/([^/]+)(\/messages|\/cancel|\/stream)?$/.exec(path);
    const handlers = match && onThread[match[2] ?? ''];
    return handlers ? { handlers, segment: match[1]! } : null;
  };

  /** The path under `/v1` of a request, or null when it is not under `/v1`. */
  const apiPath = (pathname: string): string | null =>
    pathname === prefix || pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : null;

  return {
    handle(request, response) {
      const url = requestUrl(request);
      const path = url && apiPath(url.pathname);
      if (!url || path === null) return false;
      const method = request.method ?? 'GET';
      answer(request, response, context, async () => {
        const found = endpoint(path);
        if (found === null) throw new RequestError(ErrorCode.notFound, 'no such endpoint');
        const handler = Object.hasOwn(found.handlers, method) ? found.handlers[method] : undefined;
        // The Allow header of this answer is set by the route headers (route-headers.ts).
        if (!handler) throw methodNotAllowed(`${method} is not allowed here`);
        const threadId = found.segment === '' ? '' : decodePathSegment(found.segment);
        if (threadId !== '') parse(ThreadId, threadId, 'thread id');
        await handler(request, response, url, threadId);
      });
      return true;
    },
    methods(pathname) {
      const path = apiPath(pathname);
      if (path === null) return null;
      return Object.keys(endpoint(path)?.handlers ?? {});
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
