// One thread as this client sees it: its subscription (resumed from the thread's cursor on every
// reconnect, rebuilt on `recovered: false`), a view that accumulates deltas into messages, and
// this client's posts with their delivery state. Built by `ChorusClient.thread(id)`.
//
// The view: `messages` (stored, in history order), then `posts` not stored yet, then `streaming`
// (agent messages in flight) — `items()` gives all three in that order, the same live and after a
// reload. Every change emits specific events and then `change`.
import { ContentAccumulator } from '../protocol/content.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { CursorStore } from './cursor-store.ts';
import { Emitter } from './emitter.ts';
import { ChorusError, ClientErrorCode } from './errors.ts';
import type { FrameOf, Message, RunEnd, ServerFrame, ThreadEvent } from './frames.ts';
import { randomId } from './random-id.ts';
import { createOutgoingPost, PostState, type OutgoingPost, type PostControl } from './outgoing-post.ts';
import { postItem, storedItem, streamingItem, type InFlightMessage, type ThreadItem } from './thread-item.ts';

export const SubscriptionStatus = {
  /** Waiting for the connection (the first one, or a reconnect). */
  connecting: 'connecting',
  /** `subscribe` sent, `subscribed` not yet received. */
  subscribing: 'subscribing',
  /** Receiving the thread's events. */
  live: 'live',
  /** The thread was deleted. */
  deleted: 'deleted',
  /** The server refused the subscription (`thread.error`: not-found, forbidden …). */
  failed: 'failed',
  /** `close()` was called, or the client closed. */
  closed: 'closed',
} as const;
export type SubscriptionStatus = (typeof SubscriptionStatus)[keyof typeof SubscriptionStatus];

export interface SubscribedInfo {
  /** The backlog continues exactly from the cursor the client had (false: the view was rebuilt). */
  recovered: boolean;
  /** A cursor was sent and recovered: nothing was missed, nothing repeated. */
  resumed: boolean;
  backlog: number;
  truncated: boolean;
}

export interface ThreadEvents {
  [event: string]: unknown;
  /** Anything in the view or the thread's state changed: re-render. */
  change: ChorusThread;
  status: SubscriptionStatus;
  subscribed: SubscribedInfo;
  /** The stored backlog after `subscribed` has all come (at once when it was empty). */
  synced: SubscribedInfo;
  /**
   * A resume was answered `recovered: false`: the stored messages and streaming ones were cleared
   * and the view is rebuilt from the backlog that follows.
   */
  reset: SubscribedInfo;
  /** A stored message joined the end of the view (a post, a backlog message, a finished agent message). */
  message: { item: ThreadItem; backlog: boolean };
  /** Older messages were put at the start of the view (`loadOlder`). */
  older: { items: ThreadItem[] };
  'message-start': { item: ThreadItem };
  /** `text`: what this delta added to `item.text` (for a snapshot, what it added to the text shown so far). */
  'message-delta': { item: ThreadItem; text: string; snapshot: boolean };
  'message-end': { item: ThreadItem };
  /**
   * Each message's text exactly once, across reconnects and resumes: `start` with the first
   * piece, `end` with the last (a message stored whole comes as one event with both).
   */
  text: { item: ThreadItem; text: string; start: boolean; end: boolean };
  'run-start': { runId: string };
  'run-end': RunEnd;
  /** A post's state changed (pending → sent or failed …). */
  post: OutgoingPost;
  deleted: { threadId: string };
  error: ChorusError;
}

type ReplyFrame = ServerFrame;
export type RequestFrame =
  | { type: 'create-thread'; threadId?: string; team?: string; metadata?: Record<string, string> }
  | { type: 'subscribe'; threadId: string; cursor?: string; runId?: string }
  | { type: 'unsubscribe'; threadId: string }
  | { type: 'post'; threadId: string; clientMessageId: string; text: string }
  | { type: 'cancel'; threadId: string }
  | { type: 'history'; threadId: string; before?: string; limit?: number }
  | { type: 'delete-thread'; threadId: string }
  | { type: 'ping' };

/** What a thread needs from its client. */
export interface ThreadTransport {
  readonly connected: boolean;
  /** The name the server uses for this client's posts (`welcome.user`, before it the option). */
  readonly user: string;
  readonly requestTimeoutMs: number;
  readonly maxPostAttempts: number;
  readonly backoff: BackoffOptions;
  readonly cursorStore: CursorStore;
  /** Sends on the current connection: rejects `disconnected` without one or when it is lost. */
  send(
    frame: RequestFrame,
    options: { timeoutMs: number; onReply?: (frame: ReplyFrame) => void },
  ): Promise<ReplyFrame>;
  /**
   * Waits for a connection and sends; a `repeatable` request is sent again after a reconnect, and
   * after a `rate-limited` refusal once its `retryAfterMs` has passed, while its time lasts.
   */
  request(frame: RequestFrame, options: { timeoutMs?: number; repeatable: boolean }): Promise<ReplyFrame>;
  /** Drops the connection and reconnects. */
  reconnect(reason: string): void;
  forget(thread: ChorusThread): void;
}

export interface ThreadOptions {
  /** Resume after this cursor (default: the client's cursor store, else the newest messages). */
  cursor?: string | null | undefined;
}

export class ChorusThread extends Emitter<ThreadEvents> {
  readonly threadId: string;
  private readonly transport: ThreadTransport;
  private statusValue: SubscriptionStatus = SubscriptionStatus.connecting;
  private errorValue: ChorusError | null = null;
  private cursorValue: string | null;
  private hasOlderValue: boolean;
  private runValue: { runId: string } | null = null;
  private lastRunEndValue: RunEnd | null = null;
  /**
   * The run active before a re-subscribe that ended while away: its run-end, due after the backlog,
   * and the thread's last run-end then (a later run's when more than one ended meanwhile).
   */
  private runEndedAway: { ended: RunEnd; latest: RunEnd } | null = null;
  /** The run whose `run-end` event was emitted last (a run ends once, however it is told). */
  private runEndTold: string | null = null;
  private readonly stored: ThreadItem[] = [];
  private readonly storedIds = new Set<string>();
  private readonly inFlight = new Map<string, InFlightMessage>();
  private readonly postControls = new Map<string, PostControl>();
  /** Posts shown as such: not yet matched with their stored message. */
  private readonly unstoredPosts = new Set<string>();
  private readonly textShown = new Map<string, number>();
  private readonly textEnded = new Set<string>();
  private backlogRemaining = 0;
  private lastSubscribed: SubscribedInfo | null = null;
  /** Counts view rebuilds, so that a history page requested before one is not merged after it. */
  private generation = 0;
  private postInFlight: PostControl | null = null;
  private postRetryTimer: ReturnType<typeof setTimeout> | undefined;
  private subscribeRetryTimer: ReturnType<typeof setTimeout> | undefined;
  private subscribeAttempts = 0;
  private loadingOlder: Promise<number> | null = null;

  /** @internal Made by ChorusClient.thread(). */
  constructor(threadId: string, transport: ThreadTransport, options: ThreadOptions = {}) {
    super();
    this.threadId = threadId;
    this.transport = transport;
    this.cursorValue =
      options.cursor !== undefined ? options.cursor : (transport.cursorStore.get(threadId) ?? null);
    // Resuming from a cursor: older messages exist (at least the cursor's own).
    this.hasOlderValue = this.cursorValue !== null;
  }

  // --- state -----------------------------------------------------------------------------------

  get status(): SubscriptionStatus {
    return this.statusValue;
  }

  /** Why the subscription failed (status `failed`), else null. */
  get error(): ChorusError | null {
    return this.errorValue;
  }

  /** The resume point: the cursor of the last stored message received on the subscription. */
  get cursor(): string | null {
    return this.cursorValue;
  }

  /** Older messages than the first one of the view exist: `loadOlder()` fetches them. */
  get hasOlder(): boolean {
    return this.hasOlderValue;
  }

  /** The active run, or null; apart from the connection state (a run goes on while a client is away). */
  get run(): { runId: string } | null {
    return this.runValue;
  }

  get lastRunEnd(): RunEnd | null {
    return this.lastRunEndValue;
  }

  /** Stored messages, in history order. */
  get messages(): readonly ThreadItem[] {
    return this.stored;
  }

  /** Agent messages in flight, in the order they started. */
  get streaming(): ThreadItem[] {
    return [...this.inFlight.values()].map(streamingItem);
  }

  /** Every post of this client on this thread in this session, in the order made. */
  get posts(): OutgoingPost[] {
    return [...this.postControls.values()].map((control) => control.post);
  }

  /** The whole view: stored messages, then posts not stored yet, then messages in flight. */
  items(): ThreadItem[] {
    const posts = [...this.unstoredPosts].flatMap((clientMessageId) => {
      const control = this.postControls.get(clientMessageId);
      return control ? [postItem(control.post, this.transport.user)] : [];
    });
    return [...this.stored, ...posts, ...this.streaming];
  }

  // --- actions ---------------------------------------------------------------------------------

  /**
   * Posts `text` (queued while offline; retried with the same clientMessageId until stored — the
   * server stores it once). The returned post's `state` and the `post` event follow its delivery.
   */
  post(text: string, options: { clientMessageId?: string } = {}): OutgoingPost {
    const clientMessageId = options.clientMessageId ?? randomId();
    if (this.postControls.has(clientMessageId))
      throw new Error(`clientMessageId ${clientMessageId} was already posted on this thread`);
    const control = createOutgoingPost(
      { threadId: this.threadId, clientMessageId, text },
      {
        onChange: (post) => {
          this.emit('post', post);
          this.changed();
        },
        onRetry: () => this.pumpPosts(),
        onDiscard: () => {
          this.unstoredPosts.delete(clientMessageId);
          this.postControls.delete(clientMessageId);
          this.changed();
        },
      },
    );
    this.postControls.set(clientMessageId, control);
    this.unstoredPosts.add(clientMessageId);
    if (this.isFinished()) control.failed(this.finishedError());
    this.emit('post', control.post);
    this.changed();
    this.pumpPosts();
    return control.post;
  }

  /** Cancels the thread's active run; resolves with its runId (null when none was active). */
  async cancel(options: { timeoutMs?: number } = {}): Promise<{ runId: string | null }> {
    const reply = await this.transport.request(
      { type: 'cancel', threadId: this.threadId },
      { ...options, repeatable: false },
    );
    const cancelled = expectReply(reply, 'cancelled');
    return { runId: cancelled.runId };
  }

  /** Fetches the page of messages before the view's first one and puts it at the start; resolves with how many were added. */
  loadOlder(options: { limit?: number; timeoutMs?: number } = {}): Promise<number> {
    this.loadingOlder ??= this.fetchOlder(options).finally(() => {
      this.loadingOlder = null;
    });
    return this.loadingOlder;
  }

  /** Unsubscribes and forgets the thread (its posts still pending fail with `closed`). */
  async close(): Promise<void> {
    if (this.statusValue === SubscriptionStatus.closed) return;
    const wasSubscribed =
      this.statusValue === SubscriptionStatus.live || this.statusValue === SubscriptionStatus.subscribing;
    this.finish(SubscriptionStatus.closed, new ChorusError(ClientErrorCode.closed, 'the thread was closed'));
    if (wasSubscribed && this.transport.connected) {
      await this.transport
        .send(
          { type: 'unsubscribe', threadId: this.threadId },
          { timeoutMs: this.transport.requestTimeoutMs },
        )
        .catch((error: unknown) => {
          if (!(error instanceof ChorusError)) throw error;
        });
    }
  }

  // --- from the client -------------------------------------------------------------------------

  /** @internal The connection is ready (welcome): subscribe, send what waits. */
  connected(): void {
    if (this.isFinished()) return;
    this.subscribe();
  }

  /** @internal The connection was lost. */
  disconnected(): void {
    if (this.isFinished()) return;
    clearTimeout(this.subscribeRetryTimer);
    for (const message of this.inFlight.values()) message.stale = true;
    this.setStatus(SubscriptionStatus.connecting);
    this.changed();
  }

  /** @internal The client closed for good. */
  clientClosed(error: ChorusError): void {
    if (this.isFinished()) return;
    this.finish(SubscriptionStatus.closed, error);
  }

  /** @internal A thread event of this thread. */
  handleEvent(frame: ThreadEvent): void {
    if (this.statusValue !== SubscriptionStatus.live) return;
    switch (frame.type) {
      case 'message':
        if (this.backlogRemaining > 0) {
          this.backlogRemaining -= 1;
          this.addStored(frame.cursor, frame.message, true);
          if (this.backlogRemaining === 0 && this.lastSubscribed) this.synced(this.lastSubscribed);
        } else this.addStored(frame.cursor, frame.message, false);
        break;
      case 'message-end': {
        const item = this.addStored(frame.cursor, frame.message, false);
        if (item) this.emit('message-end', { item });
        break;
      }
      case 'run-start':
        this.runValue = { runId: frame.runId };
        this.emit('run-start', { runId: frame.runId });
        break;
      case 'message-start': {
        if (this.storedIds.has(frame.messageId)) break;
        const message: InFlightMessage = {
          messageId: frame.messageId,
          runId: frame.runId,
          agent: frame.agent,
          createdAt: frame.createdAt ?? null,
          content: new ContentAccumulator(),
          seq: 0,
          stale: false,
        };
        this.inFlight.set(frame.messageId, message);
        const item = streamingItem(message);
        this.emit('message-start', { item });
        this.showText(item, false);
        break;
      }
      case 'message-delta':
        if (!this.applyDelta(frame)) return;
        break;
      case 'run-end':
        this.runValue = null;
        this.lastRunEndValue = frame;
        // Told already (at a re-subscribe, from `subscribed`): a run ends once.
        if (this.runEndTold === frame.runId) break;
        this.runEndTold = frame.runId;
        this.emit('run-end', frame);
        break;
      case 'run-queued':
        break;
      case 'thread-deleted':
        this.finish(
          SubscriptionStatus.deleted,
          new ChorusError(ErrorCode.notFound, 'the thread was deleted'),
        );
        this.transport.cursorStore.set(this.threadId, null);
        this.emit('deleted', { threadId: this.threadId });
        return;
      default:
        frame satisfies never;
    }
    this.changed();
  }

  // --- subscription ----------------------------------------------------------------------------

  private subscribe(): void {
    clearTimeout(this.subscribeRetryTimer);
    this.setStatus(SubscriptionStatus.subscribing);
    const cursor = this.cursorValue;
    // The run active before a drop: `subscribed.runEnd` tells how it ended, if it did meanwhile.
    const runId = this.runValue?.runId;
    this.transport
      .send(
        {
          type: 'subscribe',
          threadId: this.threadId,
          ...(cursor === null ? {} : { cursor }),
          ...(runId === undefined ? {} : { runId }),
        },
        {
          timeoutMs: this.transport.requestTimeoutMs,
          // Synchronously, before the backlog frames that follow the reply are handled.
          onReply: (frame) => {
            if (frame.type === 'subscribed') this.applySubscribed(frame, cursor);
          },
        },
      )
      .catch((error: unknown) => this.subscribeFailed(toChorusError(error)));
  }

  private applySubscribed(frame: FrameOf<'subscribed'>, sentCursor: string | null): void {
    if (this.statusValue !== SubscriptionStatus.subscribing) return;
    this.subscribeAttempts = 0;
    // The join restates the active run (run-start, then the in-flight message) after the backlog.
    // A run active before the drop that ended meanwhile is not restated: `runEnd` (or the thread's
    // last run-end) says so, and it is told (after the backlog, which holds the run's messages).
    const before = this.runValue;
    this.runValue = null;
    const lastRunEnd = frame.lastRunEnd ?? null;
    const endedAway = frame.runEnd ?? lastRunEnd;
    this.runEndedAway =
      before !== null && endedAway?.runId === before.runId
        ? { ended: endedAway, latest: lastRunEnd ?? endedAway }
        : null;
    // Runs that ended unseen (none was watched, or a later one): known, without an event.
    if (lastRunEnd && !this.runEndedAway) {
      this.lastRunEndValue = lastRunEnd;
      this.runEndTold = lastRunEnd.runId;
    }
    const info: SubscribedInfo = {
      recovered: frame.recovered,
      resumed: sentCursor !== null && frame.recovered,
      backlog: frame.backlog,
      truncated: frame.truncated,
    };
    if (!frame.recovered) {
      this.generation += 1;
      this.stored.length = 0;
      this.storedIds.clear();
      this.inFlight.clear();
      this.hasOlderValue = frame.truncated;
      // A first subscription without a cursor has nothing to rebuild.
      if (sentCursor !== null) this.emit('reset', info);
    } else {
      for (const message of this.inFlight.values()) message.stale = true;
    }
    this.backlogRemaining = frame.backlog;
    // With a backlog, its last message carries this same cursor; take it only once it has come.
    if (frame.backlog === 0) this.setCursor(frame.cursor);
    this.lastSubscribed = info;
    this.setStatus(SubscriptionStatus.live);
    this.emit('subscribed', info);
    if (frame.backlog === 0) this.synced(info);
    this.changed();
    // Posts go once the subscription is live: `posted` then comes before their broadcast message.
    this.pumpPosts();
  }

  /** The backlog is in: `synced`, then the end of a run that ended while away. */
  private synced(info: SubscribedInfo): void {
    this.emit('synced', info);
    const away = this.runEndedAway;
    this.runEndedAway = null;
    if (away && this.runValue === null && this.runEndTold !== away.ended.runId) {
      this.lastRunEndValue = away.latest;
      this.runEndTold = away.ended.runId;
      this.emit('run-end', away.ended);
    }
  }

  private subscribeFailed(error: ChorusError): void {
    if (this.isFinished() || this.statusValue !== SubscriptionStatus.subscribing) return;
    if (error.code === ClientErrorCode.disconnected || error.code === ClientErrorCode.closed) return;
    if (error.code === ClientErrorCode.timeout) {
      this.transport.reconnect('subscribe got no answer');
      return;
    }
    if (error.code === ErrorCode.conflict) {
      this.resubscribe();
      return;
    }
    if (error.retryable && this.transport.connected) {
      const delay = Math.max(
        error.retryAfterMs ?? 0,
        backoffDelay(this.subscribeAttempts, this.transport.backoff),
      );
      this.subscribeAttempts += 1;
      this.subscribeRetryTimer = setTimeout(() => {
        if (this.transport.connected && this.statusValue === SubscriptionStatus.subscribing) this.subscribe();
      }, delay);
      return;
    }
    this.errorValue = error;
    this.finish(SubscriptionStatus.failed, error);
    this.emit('error', error);
    this.changed();
  }

  /** Starts the subscription over from the cursor (after a gap in a message's deltas). */
  private resubscribe(): void {
    this.setStatus(SubscriptionStatus.subscribing);
    this.transport
      .send({ type: 'unsubscribe', threadId: this.threadId }, { timeoutMs: this.transport.requestTimeoutMs })
      .then(
        () => {
          if (this.statusValue === SubscriptionStatus.subscribing && this.transport.connected)
            this.subscribe();
        },
        (error: unknown) => {
          const failure = toChorusError(error);
          if (failure.code === ClientErrorCode.disconnected || failure.code === ClientErrorCode.closed)
            return;
          this.transport.reconnect('unsubscribe got no answer');
        },
      );
  }

  private protocolViolation(message: string): void {
    this.emit(
      'error',
      new ChorusError(ClientErrorCode.protocol, `${message}; resubscribing`, { threadId: this.threadId }),
    );
    this.resubscribe();
    this.changed();
  }

  // --- the view --------------------------------------------------------------------------------

  private addStored(cursor: string, message: Message, backlog: boolean): ThreadItem | null {
    this.setCursor(cursor);
    if (this.storedIds.has(message.id)) return null;
    this.inFlight.delete(message.id);
    const control =
      message.clientMessageId === undefined ? undefined : this.postControls.get(message.clientMessageId);
    if (control && message.role === 'user') {
      this.unstoredPosts.delete(control.post.clientMessageId);
      // With an attempt in flight, its reply says whether it stored the post (it comes first on
      // this socket, or soon after). With none, the post was stored before: by an attempt whose
      // reply was lost, or by another client with the same clientMessageId — a duplicate.
      if (this.postInFlight !== control)
        control.sent({ messageId: message.id, cursor, duplicate: true, queued: false });
    }
    const item = storedItem(cursor, message, control?.post ?? null);
    this.stored.push(item);
    this.storedIds.add(message.id);
    this.emit('message', { item, backlog });
    this.showText(item, true);
    return item;
  }

  /** Applies a delta; false when it broke the sequence (the subscription starts over). */
  private applyDelta(frame: FrameOf<'message-delta'>): boolean {
    const message = this.inFlight.get(frame.messageId);
    if (!message) {
      if (this.storedIds.has(frame.messageId)) return true;
      this.protocolViolation(`message-delta for ${frame.messageId} without message-start`);
      return false;
    }
    const before = message.content.text;
    let added: string;
    if (frame.snapshot) {
      message.content.reset(frame.text ?? '', frame.parts);
      message.seq = frame.seq;
      message.stale = false;
      const after = message.content.text;
      added = after.startsWith(before) ? after.slice(before.length) : after;
    } else {
      if (frame.seq !== message.seq + 1) {
        this.protocolViolation(`message-delta seq ${frame.seq} after ${message.seq}`);
        return false;
      }
      message.content.apply(frame);
      message.seq = frame.seq;
      added = frame.text ?? '';
    }
    const item = streamingItem(message);
    this.emit('message-delta', { item, text: added, snapshot: frame.snapshot === true });
    this.showText(item, false);
    return true;
  }

  /** Emits `text` with what of the item's text was not shown yet (each message's text once). */
  private showText(item: ThreadItem, end: boolean): void {
    if (item.id === null || this.textEnded.has(item.id)) return;
    const shown = this.textShown.get(item.id);
    const text = item.text.length > (shown ?? 0) ? item.text.slice(shown ?? 0) : '';
    if (shown !== undefined && text === '' && !end) return;
    this.textShown.set(item.id, Math.max(shown ?? 0, item.text.length));
    if (end) this.textEnded.add(item.id);
    this.emit('text', { item, text, start: shown === undefined, end });
  }

  private async fetchOlder(options: { limit?: number; timeoutMs?: number }): Promise<number> {
    if (!this.hasOlderValue) return 0;
    const generation = this.generation;
    const before = this.stored[0]?.cursor ?? undefined;
    const reply = await this.transport.request(
      {
        type: 'history',
        threadId: this.threadId,
        ...(before === undefined ? {} : { before }),
        ...(options.limit === undefined ? {} : { limit: options.limit }),
      },
      {
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        repeatable: true,
      },
    );
    const page = expectReply(reply, 'history-page');
    if (generation !== this.generation) return 0;
    // Without `before` the page may reach messages that are still on their way live: keep only
    // those older than the first one the view already has.
    const known = page.items.findIndex((entry) => this.storedIds.has(entry.message.id));
    const older = (known === -1 ? page.items : page.items.slice(0, known)).map((entry) =>
      storedItem(entry.cursor, entry.message, null),
    );
    this.stored.unshift(...older);
    for (const item of older) if (item.id !== null) this.storedIds.add(item.id);
    this.hasOlderValue = page.hasMore;
    this.emit('older', { items: older });
    this.changed();
    return older.length;
  }

  private setCursor(cursor: string | null): void {
    if (cursor === this.cursorValue) return;
    this.cursorValue = cursor;
    this.transport.cursorStore.set(this.threadId, cursor);
  }

  // --- posts -----------------------------------------------------------------------------------

  private pumpPosts(): void {
    if (this.postInFlight || this.postRetryTimer !== undefined || !this.transport.connected) return;
    if (this.statusValue !== SubscriptionStatus.live) return;
    const control = [...this.postControls.values()].find(
      (candidate) => candidate.post.state === PostState.pending && !candidate.discarded,
    );
    if (!control) return;
    this.postInFlight = control;
    const { post } = control;
    let retryInMs: number | null = null;
    this.transport
      .send(
        { type: 'post', threadId: this.threadId, clientMessageId: post.clientMessageId, text: post.text },
        { timeoutMs: this.transport.requestTimeoutMs },
      )
      .then(
        (reply) => {
          const posted = expectReply(reply, 'posted');
          control.attempted(null);
          control.sent({
            messageId: posted.messageId,
            cursor: posted.cursor,
            duplicate: posted.duplicate,
            queued: posted.queued,
          });
        },
        (reason: unknown) => {
          const error = toChorusError(reason);
          if (error.code === ClientErrorCode.disconnected) return; // sent again after the reconnect
          const retryable = error.retryable || error.code === ClientErrorCode.timeout;
          control.attempted(error);
          if (!retryable) {
            control.failed(error);
            return;
          }
          if (post.attempts >= this.transport.maxPostAttempts) {
            control.failed(error);
            return;
          }
          retryInMs =
            error.code === ClientErrorCode.timeout
              ? 0
              : Math.max(error.retryAfterMs ?? 0, backoffDelay(post.attempts, this.transport.backoff));
        },
      )
      .finally(() => {
        this.postInFlight = null;
        if (retryInMs === null || retryInMs === 0) {
          this.pumpPosts();
          return;
        }
        this.postRetryTimer = setTimeout(() => {
          this.postRetryTimer = undefined;
          this.pumpPosts();
        }, retryInMs);
      })
      .catch((error: unknown) => this.emit('error', toChorusError(error)));
  }

  /**
   * Resolves with the payload of the next `event`; rejects with the thread's error when the thread
   * ends first (failed, deleted or closed: no further event will come), as `events.once` rejects on
   * `error`. An event the ending itself emits (`status`, `deleted`, `error`, …) still resolves.
   */
  override once<K extends keyof ThreadEvents>(event: K): Promise<ThreadEvents[K]> {
    if (this.isFinished()) return Promise.reject(this.finishedError());
    return new Promise((resolve, reject) => {
      const removeEvent = this.on(event, (payload) => {
        removeEvent();
        removeStatus();
        resolve(payload);
      });
      const removeStatus = this.on('status', () => {
        if (!this.isFinished()) return;
        removeStatus();
        // After the events the ending emits synchronously: one of them may be the awaited event.
        queueMicrotask(() => {
          removeEvent();
          reject(this.finishedError());
        });
      });
    });
  }

  // --- helpers ---------------------------------------------------------------------------------

  private isFinished(): boolean {
    return (
      this.statusValue === SubscriptionStatus.closed ||
      this.statusValue === SubscriptionStatus.deleted ||
      this.statusValue === SubscriptionStatus.failed
    );
  }

  private finishedError(): ChorusError {
    return (
      this.errorValue ??
      new ChorusError(ClientErrorCode.closed, `the thread is ${this.statusValue}`, {
        threadId: this.threadId,
      })
    );
  }

  /** Ends the subscription for good: posts still pending fail, the client forgets the thread. */
  private finish(status: SubscriptionStatus, error: ChorusError): void {
    clearTimeout(this.subscribeRetryTimer);
    clearTimeout(this.postRetryTimer);
    this.postRetryTimer = undefined;
    this.runValue = null;
    this.inFlight.clear();
    this.setStatus(status);
    for (const control of this.postControls.values()) control.failed(error);
    this.transport.forget(this);
  }

  private setStatus(status: SubscriptionStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.emit('status', status);
  }

  private changed(): void {
    this.emit('change', this);
  }
}

function toChorusError(error: unknown): ChorusError {
  if (error instanceof ChorusError) return error;
  return new ChorusError(ErrorCode.internal, error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

/** The reply as the expected frame type, or a protocol error. */
export function expectReply<T extends ServerFrame['type']>(frame: ServerFrame, type: T): FrameOf<T> {
  if (frame.type !== type)
    throw new ChorusError(ClientErrorCode.protocol, `expected ${type}, got ${frame.type}`);
  return frame as FrameOf<T>;
}
