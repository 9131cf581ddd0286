// `GET /v1/threads/{id}/stream`: one thread's events as SSE, joined exactly as a WebSocket
// `subscribe` joins (live events buffered first, then the backlog, then the current run's
// snapshot ordered against the buffer by planJoin/orderJoin), every `data:` the WebSocket frame.
//
// Every event's `id:` is the cursor of the newest finished message (`message` / `message-end`) sent
// so far on this stream: the only points a resume can continue from. A reconnect with that
// Last-Event-ID gets every finished message after it once, then the in-flight message as a
// snapshot (which replaces whatever of it the client had), then live events — no gap, no
// finished message twice. Before the first finished message the id is '' (no resume point yet: a
// reconnect subscribes without a cursor).
import type { GatewayContext } from '../../gateway/context.ts';
import { BacklogLost } from '../../gateway/backlog.ts';
import { completeJoin } from '../../gateway/join.ts';
import { readBacklog, subscribedFrame } from '../../gateway/requests.ts';
import type { ThreadViewer } from '../../hub/hub.ts';
import type { LiveFrame } from '../../hub/live-frame.ts';
import type { ThreadEvent } from '../../protocol/frames.ts';
import { envelopeType, type LiveEnvelope } from '../../store/store.ts';
import type { SseResponse } from './sse.ts';

/** The metrics label of SSE streams (AG-UI's too). */
export const SSE = { transport: 'sse' } as const;

/** The `requestId` of the stream's `subscribed` frame (an SSE stream has no request of its own). */
export const STREAM_REQUEST_ID = 'stream';

export class ThreadStream implements ThreadViewer {
  private readonly context: GatewayContext;
  private readonly sse: SseResponse;
  private readonly threadId: string;
  /** While joining, live envelopes wait here; null once live. */
  private buffer: LiveEnvelope[] | null = [];
  private bufferBytes = 0;
  private epochPrefix: string | null = null;
  private resumeCursor = '';
  /** Counted in `chorus_subscriptions` (from the start of the join to the end of the response). */
  private counted = false;

  constructor(context: GatewayContext, sse: SseResponse, threadId: string) {
    this.context = context;
    this.sse = sse;
    this.threadId = threadId;
  }

  /**
   * Joins the thread from `cursor` (a resume) or its newest messages, telling how run `runId` ended
   * if it did (`subscribed.runEnd`); ends the response on failure.
   */
  async start(cursor: string | undefined, runId?: string): Promise<void> {
    const { store, hub, config } = this.context;
    const { threadId } = this;
    const started = performance.now();
    this.counted = true;
    this.context.metrics.subscriptions.inc(SSE);
    try {
      await hub.add(threadId, this);
      const thread = await store.getThread(threadId);
      if (!thread) {
        this.send({ type: 'thread-deleted', threadId });
        this.sse.end();
        return;
      }
      this.epochPrefix = `${thread.epoch}.`;
      const backlog = await readBacklog(this.context, threadId, cursor);
      if (this.sse.closed) return;
      if (backlog.recovered && cursor !== undefined) this.resumeCursor = cursor;
      this.sse.event(
        JSON.stringify(subscribedFrame(STREAM_REQUEST_ID, thread, backlog, runId)),
        this.resumeCursor,
      );
      const backlogIds = new Set<string>();
      for await (const item of backlog.items) {
        if (this.sse.closed) return;
        backlogIds.add(item.message.id);
        this.resumeCursor = item.cursor;
        this.sse.event(
          JSON.stringify({ type: 'message', threadId, cursor: item.cursor, message: item.message }),
          item.cursor,
        );
        await this.sse.drained(config.maxBufferedBytes / 2);
      }
      const steps = await completeJoin(this.context, threadId, backlogIds, {
        wanted: () => !this.sse.closed,
        takeBuffered: () => {
          const buffered = this.buffer ?? [];
          this.buffer = null;
          this.bufferBytes = 0;
          return buffered;
        },
      });
      if (steps === 'gap') return this.gap();
      if (steps === 'left') return;
      for (const next of steps) {
        if (this.sse.closed) break;
        if ('event' in next) this.send(next.event);
        else this.deliverLive(next.envelope, next.envelope.frame);
      }
      this.context.metrics.resumeSeconds.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (!(error instanceof BacklogLost)) {
        this.context.logger.error({ err: error, threadId }, 'sse stream failed');
      }
      // The client reconnects with its Last-Event-ID (and gets `recovered: false` when trimmed).
      this.sse.end();
    }
  }

  /** Called once the response ended, whichever side ended it. */
  stop(): void {
    this.context.hub.remove(this.threadId, this);
    if (this.counted) this.context.metrics.subscriptions.dec(SSE);
    this.counted = false;
  }

  // --- ThreadViewer ----------------------------------------------------------------------------

  deliver(_threadId: string, { envelope, payload }: LiveFrame): void {
    if (this.buffer) {
      this.buffer.push(envelope);
      this.bufferBytes += payload.length;
      if (this.bufferBytes > this.context.config.maxBufferedBytes) this.sse.end();
      return;
    }
    this.deliverLive(envelope, envelope.frame);
  }

  gap(): void {
    this.context.logger.warn({ threadId: this.threadId }, 'sse live gap: ending the stream for resume');
    this.sse.end();
  }

  // --- sending ---------------------------------------------------------------------------------

  private send(event: ThreadEvent): void {
    this.sse.event(JSON.stringify(event), this.resumeCursor);
  }

  private deliverLive(envelope: LiveEnvelope, frame: string): void {
    if (this.sse.closed) return;
    const type = envelopeType(envelope);
    if (type === 'message' || type === 'message-end') {
      const { event } = envelope;
      if (event.type === 'message' || event.type === 'message-end') {
        if (this.epochPrefix !== null && !event.cursor.startsWith(this.epochPrefix)) {
          // The history this stream followed is gone (the thread was lost and created again).
          this.send({ type: 'thread-deleted', threadId: this.threadId });
          this.sse.end();
          return;
        }
        this.resumeCursor = event.cursor;
      }
    }
    this.sse.event(frame, this.resumeCursor);
    if (type === 'thread-deleted') this.sse.end();
  }
}
