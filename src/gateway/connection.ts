// One WebSocket connection: handshake, requests, thread subscriptions and the send path with its
// slow-consumer bound. Frames are decoded once at the boundary (codec.ts); every request gets its
// reply or an `error` frame; nothing a client sends can crash the instance.
import { nanoid } from 'nanoid';
import type { WebSocket } from 'ws';
import { decodeClientFrame, errorFrame } from '../protocol/codec.ts';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from '../protocol/codes.ts';

/** Requests a client may send after `hello` before `welcome` arrives (they wait for it). */
const MAX_PENDING_FRAMES = 32;
import type { ClientFrame, ServerFrame, ThreadEvent } from '../protocol/frames.ts';
import type { LiveEnvelope } from '../store/store.ts';
import type { ThreadViewer } from '../hub/hub.ts';
import { LiveFrame } from '../hub/live-frame.ts';
import { writeWireFrame } from './wire.ts';
import { RequestError } from '../errors.ts';
import { AuthFailure, openAccess, requireAccess, requireParticipant, type Principal } from './auth.ts';
import { completeJoin } from './join.ts';
import { BacklogLost } from './backlog.ts';
import {
  createThread,
  errorReply,
  historyPage,
  readBacklog,
  requireThread,
  subscribedFrame,
} from './requests.ts';
import { createRequestLimiters, type RequestLimiters } from './rate-limiter.ts';
import type { GatewayContext } from './context.ts';
import { oversizeAllowanceFor } from './send-bound.ts';

type Frame<T extends ClientFrame['type']> = Extract<ClientFrame, { type: T }>;

/** The most bytes `ws` adds to a text frame (its header). */
const FRAME_HEADER_BYTES = 10;
/**
 * Room kept below the slow-consumer bound for control frames (the close frame, heartbeat pings),
 * so that the socket's unsent bytes never exceed `maxBufferedBytes`, those included.
 */
const CONTROL_RESERVE_BYTES = 256;
/** How long a server-initiated close waits for the peer's close frame before dropping the TCP connection. */
const CLOSE_GRACE_MS = 1000;
const SLOW_CONSUMER_CLOSE_GRACE_MS = 5000;
/** The metrics label of this transport. */
const WS = { transport: 'ws' } as const;

interface Subscription {
  /** `<epoch>.`: every cursor of the thread's history as subscribed starts with it. */
  epochPrefix: string | null;
  /** While joining, live envelopes wait here; null once live. */
  buffer: LiveEnvelope[] | null;
  /** Bytes waiting in `buffer`; past maxBufferedBytes the joiner is a slow consumer. */
  bufferBytes: number;
  /** Posts in flight from this socket: events wait in `held` until their reply is sent. */
  holds: number;
  held: LiveFrame[];
  /** Bytes waiting in `held` (unset: none), counted against maxHeldBytes. */
  heldBytes?: number | undefined;
}

export class Connection implements ThreadViewer {
  readonly sessionId = nanoid(12);
  private readonly socket: WebSocket;
  private readonly context: GatewayContext;
  private state: 'handshake' | 'verifying' | 'ready' | 'closed' = 'handshake';
  /** Requests that arrived while the hello's token was being verified; handled after `welcome`. */
  private readonly pendingFrames: ClientFrame[] = [];
  private principal: Principal = openAccess;
  private user = 'anonymous';
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly helloTimer: NodeJS.Timeout;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly limiters: RequestLimiters;
  /** Pings sent without a pong since; the gateway's heartbeat closes at 2. */
  missedPongs = 0;
  /** The most bytes the socket has held unsent (measured after every write: only writes make it grow). */
  private sendBufferPeak = 0;
  /** The size of a frame over the bound sent onto an empty queue (see tooSlowFor). */
  private oversizeAllowance = 0;

  constructor(socket: WebSocket, context: GatewayContext) {
    this.socket = socket;
    this.context = context;
    this.limiters = createRequestLimiters(context.config);
    this.helloTimer = setTimeout(
      () => this.close(CloseCode.helloTimeout, 'no hello'),
      context.config.helloTimeoutMs,
    );
    socket.on('message', (data, isBinary) => this.socketOnMessage(data, isBinary));
    socket.on('pong', () => {
      this.missedPongs = 0;
    });
    socket.on('close', () => this.socketOnClose());
    socket.on('error', (error) => {
      context.logger.debug({ err: error, sessionId: this.sessionId }, 'socket error');
      // A frame `ws` refused (over CHORUS_MAX_FRAME_BYTES, bad UTF-8, a protocol violation): `ws`
      // closes the connection with its own code; count that close as the server's.
      const code = wsProtocolCloseCode(error);
      if (code !== null && this.state !== 'closed') this.context.metrics.closes.inc({ code: String(code) });
    });
  }

  // --- ThreadViewer ----------------------------------------------------------------------------

  deliver(threadId: string, frame: LiveFrame): void {
    const subscription = this.subscriptions.get(threadId);
    if (!subscription) return;
    if (subscription.buffer) {
      subscription.buffer.push(frame.envelope);
      subscription.bufferBytes += frame.payload.length;
      if (subscription.bufferBytes > this.context.config.maxBufferedBytes) {
        this.close(CloseCode.slowConsumer, 'slow consumer');
      }
      return;
    }
    if (this.fromAnotherEpoch(threadId, subscription, frame.type, frame.envelope)) return;
    this.deliverLive(threadId, subscription, frame);
  }

  gap(threadId: string): void {
    this.context.logger.warn({ threadId, sessionId: this.sessionId }, 'live gap: closing for resume');
    this.close(CloseCode.liveGap, 'live delivery interrupted; resume');
  }

  // --- sending ---------------------------------------------------------------------------------

  /**
   * Sends a serialized frame (a Buffer shared by every subscriber, or a string) as a text frame,
   * unless the peer is too slow: then the connection is closed with 4008 instead.
   */
  sendRaw(frame: string | Buffer, onWritten?: () => void): void {
    if (this.state === 'closed') {
      onWritten?.();
      return;
    }
    const size = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    if (this.tooSlowFor(size + FRAME_HEADER_BYTES)) {
      this.close(CloseCode.slowConsumer, 'slow consumer');
      onWritten?.();
      return;
    }
    // ws calls back once the frame is handed to the kernel, or with an error when the socket ends.
    this.socket.send(frame, { binary: false }, onWritten === undefined ? undefined : () => onWritten());
    this.noteBuffered();
    this.context.metrics.countFrameOut();
  }

  /**
   * Sends a live event: its frame bytes, built once for every viewer, go to the socket as they are
   * (same slow-consumer bound as `sendRaw`).
   */
  private sendLive(frame: LiveFrame): void {
    if (this.state === 'closed') return;
    const wire = frame.wireBytes();
    if (this.tooSlowFor(wire.length)) {
      this.close(CloseCode.slowConsumer, 'slow consumer');
      return;
    }
    if (!writeWireFrame(this.socket, wire)) this.socket.send(frame.payload, { binary: false });
    this.noteBuffered();
    this.context.metrics.countFrameOut();
  }

  /**
   * Whether a frame of `bytes` would take the unsent bytes past CHORUS_MAX_BUFFERED_BYTES. A frame
   * bigger than the bound by itself goes whenever what is unsent is within the bound: one agent
   * message over the bound (its `message-end` carries it whole) is not a slow reader, and refusing
   * it closed every viewer of the thread and every later subscriber, for good. What a connection
   * holds stays bounded: CHORUS_MAX_BUFFERED_BYTES plus its biggest frame.
   */
  private tooSlowFor(bytes: number): boolean {
    const unsent = this.socket.bufferedAmount;
    this.oversizeAllowance = oversizeAllowanceFor(
      unsent,
      bytes + CONTROL_RESERVE_BYTES,
      this.context.config.maxBufferedBytes,
      this.oversizeAllowance,
    );
    return (
      unsent + bytes + CONTROL_RESERVE_BYTES > this.context.config.maxBufferedBytes + this.oversizeAllowance
    );
  }

  send(frame: ServerFrame | ThreadEvent): void {
    if (frame.type === 'error') this.context.metrics.errors.inc({ code: frame.code, transport: 'ws' });
    this.sendRaw(JSON.stringify(frame));
  }

  /** A WebSocket ping (the heartbeat); browsers and `ws` answer with a pong automatically. */
  ping(): void {
    if (this.state === 'closed') return;
    this.socket.ping();
    this.noteBuffered();
  }

  close(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.context.metrics.closes.inc({ code: String(code) });
    this.socket.close(code, reason);
    this.noteBuffered();
    this.context.events.emit('connection-closing', {
      sessionId: this.sessionId,
      code,
      reason,
      sendBufferPeak: this.sendBufferPeak,
    });
    // A peer that does not read cannot complete the closing handshake: do not wait for it long.
    // A slow consumer gets longer: its close frame sits behind everything still queued (up to the
    // bound, plus the kernel's buffers), and 4008 is what tells it to resume.
    const grace = code === CloseCode.slowConsumer ? SLOW_CONSUMER_CLOSE_GRACE_MS : CLOSE_GRACE_MS;
    setTimeout(() => this.socket.terminate(), grace).unref();
    this.cleanup();
  }

  // --- socket events ---------------------------------------------------------------------------

  private socketOnMessage(data: unknown, isBinary: boolean): void {
    if (this.state === 'closed') return;
    if (isBinary) {
      this.send(errorFrame(ErrorCode.badFrame, 'binary frames are not supported; send JSON text'));
      return;
    }
    const raw = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : String(data);
    const decoded = decodeClientFrame(raw);
    if (!decoded.ok) {
      this.send(errorFrame(decoded.code, decoded.message, decoded.requestId));
      return;
    }
    const frame = decoded.frame;
    this.context.metrics.framesIn.inc({ type: frame.type });
    this.handle(frame).catch((error: unknown) => this.replyWithError(frame, error));
  }

  private socketOnClose(): void {
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.cleanup();
    }
    this.context.connections.delete(this);
    this.context.metrics.connections.dec();
  }

  private cleanup(): void {
    clearTimeout(this.helloTimer);
    clearTimeout(this.expiryTimer);
    for (const threadId of this.subscriptions.keys()) this.context.hub.remove(threadId, this);
    this.context.metrics.subscriptions.dec(WS, this.subscriptions.size);
    this.subscriptions.clear();
  }

  // --- requests --------------------------------------------------------------------------------

  private async handle(frame: ClientFrame): Promise<void> {
    if (frame.type === 'hello') return this.onHello(frame);
    if (frame.type === 'ping')
      return this.send({ type: 'pong', ...(frame.requestId ? { requestId: frame.requestId } : {}) });
    if (this.state === 'verifying' && this.pendingFrames.length < MAX_PENDING_FRAMES) {
      this.pendingFrames.push(frame);
      return;
    }
    if (this.state !== 'ready') {
      this.send(errorFrame(ErrorCode.notReady, 'send hello first', frame.requestId));
      return;
    }
    switch (frame.type) {
      case 'create-thread':
        return this.onCreateThread(frame);
      case 'subscribe':
        return this.onSubscribe(frame);
      case 'unsubscribe':
        return this.onUnsubscribe(frame);
      case 'post':
        return this.onPost(frame);
      case 'cancel':
        return this.onCancel(frame);
      case 'history':
        return this.onHistory(frame);
      case 'delete-thread':
        return this.onDeleteThread(frame);
      default:
        frame satisfies never;
    }
  }

  private async onHello(frame: Frame<'hello'>): Promise<void> {
    if (this.state !== 'handshake') {
      this.send(errorFrame(ErrorCode.badFrame, 'hello was already received', frame.requestId));
      return;
    }
    if (frame.protocol !== PROTOCOL_VERSION) {
      this.send({
        type: 'incompatible',
        reason: `this server speaks protocol ${PROTOCOL_VERSION}`,
        ...(frame.requestId ? { requestId: frame.requestId } : {}),
      });
      this.close(CloseCode.incompatible, 'incompatible protocol');
      return;
    }
    clearTimeout(this.helloTimer);
    this.state = 'verifying';
    const result = await this.context.auth.verify(frame.token);
    if (this.isClosed()) return;
    if (!result.ok) {
      // The log says why, never with the token: `detail` names a claim, not its value.
      const refusal = { sessionId: this.sessionId, reason: result.reason, detail: result.detail };
      if (result.reason === AuthFailure.expired) {
        this.context.logger.info(refusal, 'hello refused');
        this.close(CloseCode.tokenExpired, 'token expired');
      } else if (result.reason === AuthFailure.unavailable) {
        this.context.logger.warn({ ...refusal, err: result.cause }, 'hello refused');
        this.send(errorFrame(ErrorCode.unavailable, 'tokens cannot be verified now; retry', frame.requestId));
        this.close(CloseCode.tryAgainLater, 'token keys unavailable');
      } else {
        this.context.logger.info(refusal, 'hello refused');
        const message =
          result.reason === AuthFailure.missing
            ? 'a valid token is required'
            : `token refused: ${result.detail}`;
        this.send(errorFrame(ErrorCode.unauthorized, message, frame.requestId));
        this.close(CloseCode.unauthorized, 'unauthorized');
      }
      return;
    }
    this.principal = result.principal;
    this.user = result.principal.user ?? frame.user ?? 'anonymous';
    if (result.principal.expiresAt !== undefined) {
      const remaining = Math.max(0, result.principal.expiresAt - Date.now());
      this.expiryTimer = setTimeout(
        () => this.close(CloseCode.tokenExpired, 'token expired'),
        Math.min(remaining, 2 ** 31 - 1),
      );
    }
    this.state = 'ready';
    const { config } = this.context;
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      sessionId: this.sessionId,
      instanceId: this.context.instanceId,
      heartbeatMs: config.heartbeatMs,
      user: this.user,
      ...(frame.requestId ? { requestId: frame.requestId } : {}),
      limits: {
        maxFrameBytes: config.maxFrameBytes,
        maxSubscriptions: config.maxSubscriptions,
        historyPageLimit: config.historyPageLimit,
      },
    });
    for (const pending of this.pendingFrames.splice(0)) {
      this.handle(pending).catch((error: unknown) => this.replyWithError(pending, error));
    }
  }

  private async onCreateThread(frame: Frame<'create-thread'>): Promise<void> {
    this.limiters.createThread.take();
    const { threadId, existing, team } = await createThread(this.context, frame, this.principal);
    this.send({ type: 'thread-created', requestId: frame.requestId, threadId, existing, team });
  }

  private async onSubscribe(frame: Frame<'subscribe'>): Promise<void> {
    this.limiters.subscribe.take();
    const { threadId, requestId } = frame;
    requireAccess(this.principal, threadId);
    if (this.subscriptions.has(threadId)) {
      throw new RequestError(ErrorCode.conflict, 'already subscribed to this thread; unsubscribe first');
    }
    if (this.subscriptions.size >= this.context.config.maxSubscriptions) {
      throw new RequestError(ErrorCode.limitExceeded, 'too many subscriptions on this connection');
    }
    const started = performance.now();
    const { store, hub } = this.context;
    const subscription: Subscription = {
      epochPrefix: null,
      buffer: [],
      bufferBytes: 0,
      holds: 0,
      held: [],
    };
    this.subscriptions.set(threadId, subscription);
    this.context.metrics.subscriptions.inc(WS);
    const current = () => this.state !== 'closed' && this.subscriptions.get(threadId) === subscription;
    try {
      await hub.add(threadId, this);
      const thread = await store.getThread(threadId);
      if (!thread) throw new RequestError(ErrorCode.notFound, 'thread not found');
      subscription.epochPrefix = `${thread.epoch}.`;
      const backlog = await readBacklog(this.context, threadId, frame.cursor);
      if (!current())
        throw new RequestError(ErrorCode.conflict, 'unsubscribed before the subscription took effect');
      this.send(subscribedFrame(requestId, thread, backlog, frame.runId));
      // The backlog can be far bigger than the slow-consumer bound (a resume after a long absence):
      // it is read in pages and paced by the socket, never queueing more than half the bound, while
      // live events wait in the subscription's buffer (itself bounded).
      let waitedMs = 0;
      const backlogIds = new Set<string>();
      let written: Promise<void> | undefined;
      for await (const item of backlog.items) {
        if (!current()) return;
        backlogIds.add(item.message.id);
        const data = JSON.stringify({
          type: 'message',
          threadId,
          cursor: item.cursor,
          message: item.message,
        });
        if (written && this.aboveBulkWatermark(Buffer.byteLength(data))) {
          const waitStarted = performance.now();
          await written;
          waitedMs += performance.now() - waitStarted;
          if (!current()) return;
        }
        written = new Promise<void>((resolve) => this.sendRaw(data, resolve));
      }
      // The answer's time is recorded also when the client unsubscribes right after its backlog
      // (it had its answer: the backlog, and a run's snapshot it no longer wants).
      const answered = () =>
        this.context.metrics.resumeSeconds.observe((performance.now() - started - waitedMs) / 1000);
      const steps = await completeJoin(this.context, threadId, backlogIds, {
        wanted: current,
        takeBuffered: () => {
          const buffered = subscription.buffer ?? [];
          subscription.buffer = null;
          subscription.bufferBytes = 0;
          return buffered;
        },
      });
      if (steps === 'gap' && current()) return this.gap(threadId);
      if (steps === 'gap' || steps === 'left') return answered();
      for (const next of steps) {
        if (!current()) break;
        if ('event' in next) this.send(next.event);
        else {
          const frame = new LiveFrame(next.envelope);
          if (this.fromAnotherEpoch(threadId, subscription, frame.type, frame.envelope)) break;
          this.deliverLive(threadId, subscription, frame);
        }
      }
      answered();
    } catch (error) {
      if (this.subscriptions.get(threadId) === subscription) {
        this.subscriptions.delete(threadId);
        this.context.metrics.subscriptions.dec(WS);
        this.context.hub.remove(threadId, this);
      }
      if (error instanceof BacklogLost) {
        // History was trimmed past the resume point while it was being read: the client resumes
        // again (and gets `recovered: false`).
        this.gap(threadId);
        return;
      }
      throw error;
    }
  }

  private async onUnsubscribe(frame: Frame<'unsubscribe'>): Promise<void> {
    // Events held back for a post in flight are not sent after `unsubscribed`.
    this.subscriptions.get(frame.threadId)?.held.splice(0);
    if (this.subscriptions.delete(frame.threadId)) {
      this.context.hub.remove(frame.threadId, this);
      this.context.metrics.subscriptions.dec(WS);
    }
    this.send({ type: 'unsubscribed', requestId: frame.requestId, threadId: frame.threadId });
  }

  private async onPost(frame: Frame<'post'>): Promise<void> {
    this.limiters.post.take();
    requireParticipant(this.principal, frame.threadId);
    const subscription = this.subscriptions.get(frame.threadId);
    if (subscription) subscription.holds += 1;
    try {
      const { item, duplicate, queued } = await this.context.runs.post({
        threadId: frame.threadId,
        clientMessageId: frame.clientMessageId,
        text: frame.text,
        author: this.user,
      });
      this.send({
        type: 'posted',
        requestId: frame.requestId,
        threadId: frame.threadId,
        messageId: item.message.id,
        cursor: item.cursor,
        duplicate,
        queued,
      });
    } finally {
      if (subscription) this.release(subscription);
    }
  }

  private async onCancel(frame: Frame<'cancel'>): Promise<void> {
    this.limiters.request.take();
    requireParticipant(this.principal, frame.threadId);
    await requireThread(this.context, frame.threadId);
    // `cancelled` first, then the run's message-end (cancelled) and run-end: the thread's events
    // wait for this socket until the reply is out. The run answered here ends `cancelled`.
    const subscription = this.subscriptions.get(frame.threadId);
    if (subscription) subscription.holds += 1;
    try {
      const runId = await this.context.runs.cancel(frame.threadId);
      this.send({ type: 'cancelled', requestId: frame.requestId, threadId: frame.threadId, runId });
    } finally {
      if (subscription) this.release(subscription);
    }
  }

  private async onHistory(frame: Frame<'history'>): Promise<void> {
    this.limiters.request.take();
    requireAccess(this.principal, frame.threadId);
    const page = await historyPage(this.context, frame.threadId, frame.before, frame.limit);
    this.send({ type: 'history-page', requestId: frame.requestId, threadId: frame.threadId, ...page });
  }

  private async onDeleteThread(frame: Frame<'delete-thread'>): Promise<void> {
    this.limiters.request.take();
    requireParticipant(this.principal, frame.threadId);
    const existed = await this.context.runs.deleteThread(frame.threadId);
    if (!existed) throw new RequestError(ErrorCode.notFound, 'thread not found');
    this.send({ type: 'thread-deleted', requestId: frame.requestId, threadId: frame.threadId });
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** Whether a bulk frame of `size` bytes should wait for the socket to drain first. */
  private aboveBulkWatermark(size: number): boolean {
    const buffered = this.socket.bufferedAmount;
    return buffered > 0 && buffered + size > this.context.config.maxBufferedBytes / 2;
  }

  private noteBuffered(): void {
    const buffered = this.socket.bufferedAmount;
    if (buffered > this.sendBufferPeak) this.sendBufferPeak = buffered;
  }

  /**
   * A stored message of another epoch means the history this viewer follows is gone (the store lost
   * the thread, which was then created again): it is told the thread was deleted, and resubscribing
   * gives `recovered: false` — never a silent continuation into the new history.
   */
  private fromAnotherEpoch(
    threadId: string,
    subscription: Subscription,
    type: ThreadEvent['type'],
    envelope: LiveEnvelope,
  ): boolean {
    if (type !== 'message' && type !== 'message-end') return false;
    const { event } = envelope;
    if (event.type !== 'message' && event.type !== 'message-end') return false;
    if (subscription.epochPrefix === null || event.cursor.startsWith(subscription.epochPrefix)) return false;
    this.subscriptions.delete(threadId);
    this.context.hub.remove(threadId, this);
    this.context.metrics.subscriptions.dec(WS);
    this.send({ type: 'thread-deleted', threadId });
    return true;
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private deliverLive(threadId: string, subscription: Subscription, frame: LiveFrame): void {
    if (subscription.holds > 0) this.hold(subscription, frame);
    else this.sendLive(frame);
    if (frame.type === 'thread-deleted' && this.subscriptions.get(threadId) === subscription) {
      this.subscriptions.delete(threadId);
      this.context.hub.remove(threadId, this);
      this.context.metrics.subscriptions.dec(WS);
      if (subscription.holds === 0) return;
    }
  }

  /**
   * Keeps an event back while a post of this socket is in flight. The events cannot be dropped, and
   * overlapping posts could hold them for ever: past CHORUS_MAX_HELD_BYTES (over all the
   * connection's threads) the connection is closed with 4008, and the client resumes.
   */
  private hold(subscription: Subscription, frame: LiveFrame): void {
    subscription.held.push(frame);
    subscription.heldBytes = (subscription.heldBytes ?? 0) + frame.payload.length;
    let heldBytes = 0;
    for (const each of this.subscriptions.values()) heldBytes += each.heldBytes ?? 0;
    if (heldBytes > this.context.config.maxHeldBytes) {
      this.close(CloseCode.slowConsumer, 'slow consumer: too many events held for posts in flight');
    }
  }

  private release(subscription: Subscription): void {
    subscription.holds -= 1;
    if (subscription.holds > 0) return;
    subscription.heldBytes = 0;
    for (const frame of subscription.held.splice(0)) this.sendLive(frame);
  }

  private replyWithError(frame: ClientFrame, error: unknown): void {
    const requestId = 'requestId' in frame ? frame.requestId : undefined;
    const threadId =
      'threadId' in frame && typeof frame.threadId === 'string' ? { threadId: frame.threadId } : {};
    const reply = errorReply(this.context, error, { type: frame.type, sessionId: this.sessionId });
    this.send({ ...reply, ...(requestId === undefined ? {} : { requestId }), ...threadId });
  }
}

/** The close code `ws` sends for a frame its receiver refused (its errors' `code`), or null. */
export function wsProtocolCloseCode(error: Error): number | null {
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return null;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH')
    return 1009;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  if (code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return 1008;
  return 1002;
}
