// AG-UI (the Agent–User Interaction protocol) at `<basePath>/ag-ui` (the default team) and
// `<basePath>/ag-ui/{team}`: a `RunAgentInput` in, an SSE stream of AG-UI events out. Its `threadId`
// is a Chorus thread (created when new), its last user message is posted as a Chorus post (its id
// the clientMessageId, so a retried request posts nothing twice), and the run that answers the post
// is streamed: RUN_STARTED, MESSAGES_SNAPSHOT (the thread's messages up to the post), the agents'
// messages, then RUN_FINISHED or RUN_ERROR. Authentication, limits and transitions are the gateway's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventEncoder } from '@ag-ui/encoder';
import { EventType, type BaseEvent } from '@ag-ui/core';
import { RunAgentInputSchema } from '@ag-ui/core/schemas';
import type { GatewayContext } from '../../gateway/context.ts';
import { createThread } from '../../gateway/requests.ts';
import type { ThreadViewer } from '../../hub/hub.ts';
import type { LiveFrame } from '../../hub/live-frame.ts';
import { RequestError } from '../../errors.ts';
import { ErrorCode } from '../../protocol/codes.ts';
import { id } from '../../protocol/frames.ts';
import type { LiveEnvelope, StoredItem } from '../../store/store.ts';
import { requireParticipant } from '../../gateway/auth.ts';
import {
  answer,
  authenticate,
  CallerLimiters,
  decodePathSegment,
  methodNotAllowed,
  readBody,
} from '../http-api/http-io.ts';
import { pathOf } from '../http-routes.ts';
import { SseResponse } from '../http-api/sse.ts';
import type { MethodsOf } from '../http-api/route-headers.ts';
import { SSE } from '../http-api/thread-stream.ts';
import { AgUiRunTranslator, toAgUiMessages } from './ag-ui-events.ts';

export interface AgUiRoute {
  handle(request: IncomingMessage, response: ServerResponse): boolean;
  /** The methods each path takes: `POST <basePath>/ag-ui` and `POST <basePath>/ag-ui/{team}`. */
  methods: MethodsOf;
  close(): void;
}

/** A RunAgentInput carries the whole conversation: it may be far bigger than one frame. */
const MAX_INPUT_BYTES = 1024 * 1024;

export function createAgUiRoute(context: GatewayContext, basePath: string): AgUiRoute {
  const { config, logger } = context;
  const prefix = `${basePath}/ag-ui`;
  /** What follows the AG-UI prefix ('' or a team, or more: no endpoint); null when not under it. */
  const restOf = (path: string): string | null =>
    path === prefix || path.startsWith(`${prefix}/`) ? path.slice(prefix.length).replace(/^\//, '') : null;
  const limiters = new CallerLimiters(config);
  const streams = new Set<SseResponse>();

  const run = async (request: IncomingMessage, response: ServerResponse, teamName: string) => {
    const principal = await authenticate(request, context.auth, logger);
    const input = await readBody(
      request,
      RunAgentInputSchema,
      Math.max(MAX_INPUT_BYTES, config.maxFrameBytes),
    );
    if (!context.teams.get(teamName))
      throw new RequestError(ErrorCode.notFound, `unknown team "${teamName}"`);
    const threadId = input.threadId;
    if (!id.safeParse(threadId).success)
      throw new RequestError(ErrorCode.badFrame, 'threadId: letters, digits and _ . : - only (at most 128)');
    requireParticipant(principal, threadId);
    const last = input.messages.at(-1);
    const userMessage = last?.role === 'user' ? last : undefined;
    if (userMessage && !id.safeParse(userMessage.id).success)
      throw new RequestError(ErrorCode.badFrame, 'the user message id: letters, digits and _ . : - only');
    const text = userMessage ? textOf(userMessage.content) : '';
    if (userMessage && text === '')
      throw new RequestError(ErrorCode.badFrame, 'the user message has no text');
    if (text.length > 32_768)
      throw new RequestError(ErrorCode.tooLarge, 'the user message is over 32768 characters');
    const buckets = limiters.of(principal, request);
    buckets.createThread.take();
    if (userMessage) buckets.post.take();
    await createThread(context, { threadId, team: teamName }, principal);

    const translator = new AgUiRunTranslator(threadId, input.runId);
    const encoder = new EventEncoder();
    /** The posted message's id once known: until then live events wait in `pending`. */
    let answered: string | null = null;
    let runId: string | null = null;
    /** Live events up to this seq were read from the store's current run instead. */
    let replayedUpTo = 0;
    const pending: LiveEnvelope[] = [];
    const viewer: ThreadViewer = {
      deliver: (_threadId: string, { envelope }: LiveFrame) => {
        if (answered === null) pending.push(envelope);
        else follow(envelope);
      },
      gap: () => fail('live delivery was interrupted; retry', ErrorCode.unavailable),
    };
    const sse = new SseResponse(response, {
      heartbeatMs: config.sseHeartbeatMs,
      maxBufferedBytes: config.maxBufferedBytes,
      onEnd: () => {
        streams.delete(sse);
        context.hub.remove(threadId, viewer);
        context.metrics.subscriptions.dec(SSE);
      },
    });
    streams.add(sse);
    context.metrics.subscriptions.inc(SSE);
    const emit = (event: BaseEvent) => sse.write(encoder.encodeSSE(event));
    /** A request that cannot be served once the stream has begun (run failures are the translator's). */
    const fail = (message: string, code: ErrorCode) => {
      context.metrics.errors.inc({ code, transport: 'http' });
      emit({ type: EventType.RUN_ERROR, message, code });
      sse.end();
    };
    const follow = ({ event, liveSeq }: LiveEnvelope) => {
      if (sse.closed || liveSeq <= replayedUpTo) return;
      if (event.type === 'thread-deleted') return fail('the thread was deleted', ErrorCode.notFound);
      if (runId === null) {
        if (event.type === 'run-start' && answered !== null && event.posts?.includes(answered))
          runId = event.runId;
        return;
      }
      if ('runId' in event && event.runId !== runId) return;
      for (const each of translator.translate(event)) emit(each);
      if (event.type === 'run-end') sse.end();
    };

    /**
     * MESSAGES_SNAPSHOT: the thread's stored messages, up to and with `through` when given (the
     * posted message: what the run answering it streams comes after). An AG-UI client replaces its
     * messages with a snapshot, so the posted message must be in it, under the client's own id.
     */
    const snapshot = (items: readonly StoredItem[], through: string | null) => {
      const cut = through === null ? -1 : items.findIndex((item) => item.message.id === through);
      const shown = cut < 0 ? items : items.slice(0, cut + 1);
      if (shown.length === 0) return;
      const messages = toAgUiMessages(shown.map((item) => item.message));
      // HttpAgent merges a snapshot into what it holds: those it knows stay in its own order, the
      // others go at the end. Where others posted in between, that is not the thread's order; an
      // empty snapshot first makes it drop what it holds and take the snapshot's order whole.
      if (!mergeKeepsOrder(input.messages, messages))
        emit({ type: EventType.MESSAGES_SNAPSHOT, messages: [] });
      emit({ type: EventType.MESSAGES_SNAPSHOT, messages });
    };
    const latest = async () => (await context.store.readLatest(threadId, config.backlogLimit)).items;

    try {
      await context.hub.add(threadId, viewer);
      emit({ type: EventType.RUN_STARTED, threadId, runId: input.runId });
      if (!userMessage) {
        snapshot(await latest(), null);
        emit(translator.finished());
        sse.end();
        return;
      }
      const posted = await context.runs.post({
        threadId,
        clientMessageId: userMessage.id,
        text,
        author: principal.user ?? userMessage.name ?? 'anonymous',
      });
      const postedId = posted.item.message.id;
      if (posted.duplicate) {
        // A retried request: the run that answers the post may be running (it is joined from the
        // store's record of it), or over (the snapshot shows its answer, if it stored any), or the
        // post still waits in the queue. Read in this order: a post leaves the queue for the run.
        const state = await context.store.runState(threadId);
        const current = await context.store.currentRun(threadId);
        const start = current.events[0]?.event;
        const items = await latest();
        if (start?.type === 'run-start' && start.posts?.includes(postedId)) {
          snapshot(items, postedId);
          runId = start.runId;
          replayedUpTo = current.lastSeq;
          for (const envelope of current.events) {
            if (envelope.event.type !== 'run-start')
              follow({ ...envelope, liveSeq: Number.POSITIVE_INFINITY });
          }
        } else if (state.queued === 0 || answeredIn(items, postedId)) {
          snapshot(items, null);
          emit(translator.finished());
          sse.end();
          return;
        } else {
          snapshot(items, postedId);
        }
      } else {
        snapshot(await latest(), postedId);
      }
      answered = postedId;
      for (const envelope of pending.splice(0)) follow(envelope);
    } catch (error) {
      const reply = sendErrorBody(error);
      fail(reply.message, reply.code);
    }

    function sendErrorBody(error: unknown) {
      if (error instanceof RequestError) return { message: error.message, code: error.code };
      logger.error({ err: error, threadId }, 'ag-ui run failed');
      return { message: 'internal error', code: ErrorCode.internal };
    }
  };

  return {
    handle(request, response) {
      const path = pathOf(request);
      const rest = path === null ? null : restOf(path);
      if (rest === null) return false;
      answer(request, response, context, async () => {
        if (rest.includes('/')) throw new RequestError(ErrorCode.notFound, 'no such endpoint');
        if (request.method !== 'POST') throw methodNotAllowed('POST a RunAgentInput here');
        await run(request, response, rest === '' ? context.teams.defaultTeam : decodePathSegment(rest));
      });
      return true;
    },
    methods(pathname) {
      const rest = restOf(pathname);
      if (rest === null) return null;
      return rest.includes('/') ? [] : ['POST'];
    },
    close() {
      for (const each of [...streams]) each.end();
    },
  };
}

/** A user message's text: its string content, or its text parts joined. */
function textOf(content: string | ReadonlyArray<{ type: string; text?: string }>): string {
  if (typeof content === 'string') return content;
  return content
    .filter((part) => part.type === 'text' && typeof part.text === 'string')
    .map((part) => part.text)
    .join('\n');
}

/**
 * Whether a post stored before (a retried request) has been answered already: the thread holds a
 * message after it that is not a user's.
 */
function answeredIn(items: readonly StoredItem[], messageId: string): boolean {
  const index = items.findIndex((item) => item.message.id === messageId);
  return index >= 0 && items.slice(index + 1).some((item) => item.message.role !== 'user');
}

/**
 * Whether an AG-UI client holding `held` ends up with exactly `snapshot`'s order after merging it
 * (its messages the snapshot has, in its own order, then the snapshot's others).
 */
export function mergeKeepsOrder(
  held: readonly { id: string }[],
  snapshot: readonly { id: string }[],
): boolean {
  const inSnapshot = new Set(snapshot.map((message) => message.id));
  const kept = held.filter((message) => inSnapshot.has(message.id)).map((message) => message.id);
  const keptIds = new Set(kept);
  const merged = [...kept, ...snapshot.filter((message) => !keptIds.has(message.id)).map((m) => m.id)];
  return merged.every((messageId, index) => messageId === snapshot[index]?.id);
}
