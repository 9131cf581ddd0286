// The requests that every entry point answers the same way (the WebSocket connection, the HTTP API,
// AG-UI): each takes the gateway context and the request's fields and returns the reply's fields
// or throws a RequestError. Authorization and rate limits stay with the caller (each entry point
// has its own principal and buckets); `errorReply` turns whatever was thrown into the protocol's error.
import { RequestError, StoreError } from '../errors.ts';
import { errorFrame } from '../protocol/codec.ts';
import { ErrorCode } from '../protocol/codes.ts';
import type { ErrorFrame, Message, ServerFrame } from '../protocol/frames.ts';
import { runEndField, type StoredItem, type ThreadRecord } from '../store/store.ts';
import { newThreadId, requireParticipant, type Principal } from './auth.ts';
import { backlogPages, RESUME_PAGE } from './backlog.ts';
import type { GatewayContext } from './context.ts';

type Context = Pick<GatewayContext, 'store' | 'teams' | 'config' | 'logger'>;

export interface CreateThreadRequest {
  threadId?: string | undefined;
  team?: string | undefined;
  metadata?: Record<string, string> | undefined;
}

/**
 * Creates a thread (with a client-chosen id, idempotently: an existing thread is left as it is and
 * keeps its team, whatever `team` says). An unknown team is `not-found` unless the thread exists.
 * Only a participant may create, and only a thread its token allows: without a `threadId` the server
 * chooses one that the token allows (or refuses, `forbidden`).
 */
export async function createThread(
  context: Context,
  request: CreateThreadRequest,
  principal: Principal,
): Promise<{ threadId: string; existing: boolean; team: string }> {
  requireParticipant(principal, request.threadId);
  const teamName = request.team ?? context.teams.defaultTeam;
  if (!context.teams.get(teamName)) {
    const current = request.threadId === undefined ? null : await context.store.getThread(request.threadId);
    if (!current || request.threadId === undefined)
      throw new RequestError(ErrorCode.notFound, `unknown team "${teamName}"`);
    return { threadId: request.threadId, existing: true, team: current.team };
  }
  const threadId = request.threadId ?? newThreadId(principal);
  const { thread, existing } = await context.store.createThread({
    threadId,
    team: teamName,
    ...(request.metadata ? { metadata: request.metadata } : {}),
  });
  return { threadId, existing, team: thread.team };
}

/** A thread, or `not-found`. */
export async function requireThread(context: Context, threadId: string) {
  const thread = await context.store.getThread(threadId);
  if (!thread) throw new RequestError(ErrorCode.notFound, 'thread not found');
  return thread;
}

/**
 * A page of history: the newest `limit` (capped by CHORUS_HISTORY_PAGE_LIMIT) messages before
 * `before`, oldest first. One reply cannot be paced: a page bigger than half the slow-consumer
 * bound would cut a healthy client off, so its newest items are kept within that and `hasMore`
 * leads to the rest.
 */
export async function historyPage(
  context: Context,
  threadId: string,
  before: string | undefined,
  limit: number | undefined,
): Promise<{ items: Array<{ cursor: string; message: Message }>; hasMore: boolean }> {
  const { store, config } = context;
  await requireThread(context, threadId);
  const page = await store.readBefore(threadId, before, Math.min(limit ?? 50, config.historyPageLimit));
  const budget = config.maxBufferedBytes / 2;
  let first = page.items.length;
  let bytes = 0;
  while (first > 0) {
    const item = page.items[first - 1]!;
    const size = Buffer.byteLength(JSON.stringify(item.message)) + item.cursor.length + 32;
    if (bytes + size > budget && first < page.items.length) break;
    bytes += size;
    first -= 1;
  }
  return {
    items: page.items.slice(first).map((item) => ({ cursor: item.cursor, message: item.message })),
    hasMore: page.hasMore || first > 0,
  };
}

export interface Backlog {
  recovered: boolean;
  truncated: boolean;
  /** The cursor of the newest stored message when it was read (null: an empty thread). */
  newest: string | null;
  count: number;
  items: AsyncIterable<StoredItem>;
}

/**
 * What a subscribe sends as backlog: with a cursor that can be continued, every message after
 * it (read in pages, up to CHORUS_RESUME_LIMIT); otherwise the newest CHORUS_BACKLOG_LIMIT.
 */
export async function readBacklog(
  context: Context,
  threadId: string,
  cursor: string | undefined,
): Promise<Backlog> {
  const { store, config } = context;
  if (cursor !== undefined) {
    const first = await store.readAfter(threadId, cursor, Math.min(RESUME_PAGE, config.resumeLimit));
    if (first.recovered && first.missed <= config.resumeLimit) {
      return {
        recovered: true,
        truncated: false,
        newest: first.newest,
        count: first.missed,
        items: backlogPages(store, threadId, first.items, first.missed),
      };
    }
  }
  const latest = await store.readLatest(threadId, config.backlogLimit);
  return {
    recovered: false,
    truncated: latest.truncated,
    newest: latest.items.at(-1)?.cursor ?? null,
    count: latest.items.length,
    items: backlogPages(store, threadId, latest.items, latest.items.length),
  };
}

/**
 * The `subscribed` answer to a join of `thread` with `backlog` (the WebSocket's and the SSE
 * stream's): with the thread's last run-end, and that of `runId` (the run the joiner watched).
 */
export function subscribedFrame(
  requestId: string,
  thread: ThreadRecord,
  backlog: Backlog,
  runId: string | undefined,
): Extract<ServerFrame, { type: 'subscribed' }> {
  return {
    type: 'subscribed',
    requestId,
    threadId: thread.threadId,
    recovered: backlog.recovered,
    cursor: backlog.newest,
    backlog: backlog.count,
    truncated: backlog.truncated,
    epoch: thread.epoch,
    ...(thread.lastRunEnd ? { lastRunEnd: thread.lastRunEnd } : {}),
    ...runEndField(thread, runId),
  };
}

/**
 * The protocol error for whatever a request threw: RequestError as it is, StoreError by its code,
 * anything else `internal` (logged, never shown). `log` names the request in the log line.
 */
export function errorReply(
  context: Pick<GatewayContext, 'logger'>,
  error: unknown,
  log: Record<string, unknown>,
): ErrorFrame {
  if (error instanceof RequestError) {
    const { retryAfterMs } = error;
    return errorFrame(error.code, error.message, undefined, retryAfterMs ? { retryAfterMs } : {});
  }
  if (error instanceof StoreError) {
    const code =
      error.code === 'not-found'
        ? ErrorCode.notFound
        : error.code === 'unavailable'
          ? ErrorCode.unavailable
          : ErrorCode.internal;
    const message =
      code === ErrorCode.notFound
        ? 'thread not found'
        : code === ErrorCode.unavailable
          ? 'storage is unavailable; retry'
          : 'internal error';
    if (code === ErrorCode.internal) context.logger.error({ ...log, err: error }, 'request failed');
    return errorFrame(code, message);
  }
  context.logger.error({ ...log, err: error }, 'request failed');
  return errorFrame(ErrorCode.internal, 'internal error');
}
