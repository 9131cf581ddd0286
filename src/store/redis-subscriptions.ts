// The Redis store's live delivery: one dedicated subscriber connection (on a Cluster, ioredis'
// sharded subscriber group), one channel subscription per thread shared by its local listeners,
// the control channel, and gap detection.
//
// Gaps are detected from data: every live event carries its thread's live sequence number, one
// more than the previous one. Each channel learns its baseline (the thread's last seq) once the
// subscription is confirmed; a hole after it means events were lost, and the channel's listeners
// are told (`onGap`) before delivery continues. Events that may be lost without a hole being seen
// (the connection closed, a Cluster resubscribe after a slot move or a node loss) are reported
// too, for threads and for the control channel alike.
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log.ts';
import type { ThreadEvent } from '../protocol/frames.ts';
import {
  envelopeType,
  type ControlSignal,
  type LiveEnvelope,
  type LiveListener,
  type LiveSubscription,
} from './store.ts';

type RedisClient = Redis | Cluster;

interface ThreadSubscription {
  readonly listener: LiveListener;
  readonly onGap: (() => void) | undefined;
  /** Set once `subscribe` resolved: only confirmed subscriptions hear about gaps. */
  confirmed: boolean;
}

interface ChannelState {
  readonly channel: string;
  /** The thread whose events the channel carries; null for the control channel. */
  readonly threadId: string | null;
  readonly subscriptions: Set<ThreadSubscription>;
  /** The server confirmed the subscription on the current subscriber connection. */
  subscribed: boolean;
  /** The running (un)subscribe sequence, if any: one at a time per channel. */
  reconciling: Promise<void> | null;
  /** The last live seq delivered; null until the baseline is known. */
  lastSeq: number | null;
  /** Seqs delivered before the baseline was known (checked against it when it arrives). */
  early: number[];
  /** Bumped when the baseline must be read again; a read answered for an older one is void. */
  baselineGeneration: number;
}

export interface RedisSubscriptionsOptions {
  subscriber: RedisClient;
  clustered: boolean;
  controlChannel: string;
  /** The thread's last live seq (0 when none), read on the command connection. */
  readLastSeq: (threadId: string) => Promise<number>;
  logger: Logger;
}

export class RedisSubscriptions {
  private readonly subscriber: RedisClient;
  private readonly clustered: boolean;
  private readonly readLastSeq: (threadId: string) => Promise<number>;
  private readonly logger: Logger;
  private readonly channels = new Map<string, ChannelState>();
  readonly control: ChannelState;
  private readonly signalListeners = new Set<{
    onSignal: (signal: ControlSignal) => void;
    onGap: (() => void) | undefined;
  }>();
  /** Bumped whenever the subscriber connection closes: a SUBSCRIBE answered on an older one is void. */
  private generation = 0;
  private up = false;
  private closed = false;

  constructor(options: RedisSubscriptionsOptions) {
    this.subscriber = options.subscriber;
    this.clustered = options.clustered;
    this.readLastSeq = options.readLastSeq;
    this.logger = options.logger;
    this.control = this.channelState(options.controlChannel, null);
    const subscriber = this.subscriber;
    subscriber.on('message', this.subscriberOnMessage);
    subscriber.on('smessage', this.subscriberOnMessage);
    if (this.clustered) {
      // ioredis re-subscribes by itself after a slot move (`moved`) or a lost node; events published
      // meanwhile may be gone.
      subscriber.on('-node', this.subscriberOnResubscribe);
      subscriber.on('-subscriber', this.subscriberOnResubscribe);
      subscriber.on('subscribersReady', this.subscriberOnResubscribe);
    } else {
      subscriber.on('close', this.subscriberOnClose);
      subscriber.on('ready', this.subscriberOnReady);
    }
  }

  /** Subscribes the control channel (once, at connect). */
  async start(): Promise<void> {
    this.up = true;
    await this.reconcile(this.control);
  }

  close(): void {
    this.closed = true;
    this.signalListeners.clear();
  }

  async subscribe(
    threadId: string,
    channel: string,
    listener: LiveListener,
    onGap?: () => void,
  ): Promise<LiveSubscription> {
    const state = this.channelState(channel, threadId);
    const subscription: ThreadSubscription = { listener, onGap, confirmed: false };
    state.subscriptions.add(subscription);
    try {
      await this.reconcile(state);
      if (!state.subscribed) throw new Error('the store closed while subscribing');
      // Delivery continuity is only claimed from the baseline on.
      while (state.lastSeq === null && state.subscribed && !this.closed) await this.learnBaseline(state);
      if (state.lastSeq === null) throw new Error('the subscription was lost while it started');
    } catch (error) {
      state.subscriptions.delete(subscription);
      this.forgetIfIdle(state);
      throw error;
    }
    subscription.confirmed = true;
    let active = true;
    return {
      lastSeq: state.lastSeq,
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        state.subscriptions.delete(subscription);
        try {
          await this.reconcile(state);
        } catch (error) {
          // The server drops subscriptions with the connection; a reconnect will not restore it.
          this.logger.debug({ err: error, threadId }, 'unsubscribe did not reach Redis');
        }
      },
    };
  }

  onSignal(onSignal: (signal: ControlSignal) => void, onGap?: () => void): () => void {
    const entry = { onSignal, onGap };
    this.signalListeners.add(entry);
    return () => void this.signalListeners.delete(entry);
  }

  /** Simulates what the subscriber reports when events may have been lost (tests). */
  reportPossibleLoss(reason: string): void {
    this.possibleLoss(reason);
  }

  // --- internals -----------------------------------------------------------------------------

  private channelState(channel: string, threadId: string | null): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = {
        channel,
        threadId,
        subscriptions: new Set(),
        subscribed: false,
        reconciling: null,
        lastSeq: null,
        early: [],
        baselineGeneration: 0,
      };
      this.channels.set(channel, state);
    }
    return state;
  }

  private forgetIfIdle(state: ChannelState) {
    if (
      state.threadId !== null &&
      state.subscriptions.size === 0 &&
      !state.subscribed &&
      !state.reconciling
    ) {
      this.channels.delete(state.channel);
    }
  }

  /**
   * Brings the server-side subscription of a channel in line with its local subscriptions, one
   * SUBSCRIBE / UNSUBSCRIBE at a time; callers that arrive meanwhile share the running sequence.
   */
  private reconcile(state: ChannelState): Promise<void> {
    if (state.reconciling) return state.reconciling;
    // `finally` runs asynchronously even when the sequence has nothing to do, so it always clears
    // the promise assigned here.
    const running = this.reconcileSequence(state).finally(() => {
      state.reconciling = null;
      this.forgetIfIdle(state);
    });
    state.reconciling = running;
    return running;
  }

  private async reconcileSequence(state: ChannelState): Promise<void> {
    for (;;) {
      const wanted = !this.closed && (state.threadId === null || state.subscriptions.size > 0);
      if (wanted === state.subscribed) return;
      const sharded = this.clustered && state.threadId !== null;
      const generation = this.generation;
      if (wanted) {
        this.resetBaseline(state);
        await (sharded
          ? this.subscriber.ssubscribe(state.channel)
          : this.subscriber.subscribe(state.channel));
        // Answered on a connection that has closed since: subscribe again on the new one.
        if (generation === this.generation) state.subscribed = true;
      } else {
        await (sharded
          ? this.subscriber.sunsubscribe(state.channel)
          : this.subscriber.unsubscribe(state.channel));
        state.subscribed = false;
      }
    }
  }

  private resetBaseline(state: ChannelState) {
    state.lastSeq = null;
    state.early = [];
    state.baselineGeneration += 1;
  }

  /** Reads the thread's last seq and checks what arrived before it against it. */
  private async learnBaseline(state: ChannelState): Promise<void> {
    if (state.threadId === null) return;
    const generation = state.baselineGeneration;
    const baseline = await this.readLastSeq(state.threadId);
    if (generation !== state.baselineGeneration || state.lastSeq !== null) return;
    const after = state.early.filter((seq) => seq > baseline).sort((a, b) => a - b);
    state.early = [];
    state.lastSeq = Math.max(baseline, ...after);
    if (after.some((seq, index) => seq !== baseline + index + 1)) {
      this.reportGap(state, 'live sequence hole while subscribing');
    }
  }

  private reportGap(state: ChannelState, reason: string) {
    let told = 0;
    for (const subscription of state.subscriptions) {
      if (!subscription.confirmed || !subscription.onGap) continue;
      told += 1;
      try {
        subscription.onGap();
      } catch (error) {
        this.logger.error({ err: error, threadId: state.threadId }, 'onGap listener threw');
      }
    }
    if (told > 0) this.logger.info({ threadId: state.threadId, reason }, 'live delivery gap');
  }

  private reportSignalGap(reason: string) {
    if (this.signalListeners.size > 0) this.logger.info({ reason }, 'control signals may have been lost');
    for (const { onGap } of this.signalListeners) {
      try {
        onGap?.();
      } catch (error) {
        this.logger.error({ err: error }, 'signal onGap listener threw');
      }
    }
  }

  /** Events of every channel may have been lost: tell everyone, and learn baselines again. */
  private possibleLoss(reason: string) {
    if (this.closed) return;
    for (const state of this.channels.values()) {
      if (state.threadId === null) continue;
      this.reportGap(state, reason);
      if (state.subscribed && state.subscriptions.size > 0) {
        this.resetBaseline(state);
        this.learnBaseline(state).catch((error: unknown) => {
          // Without a baseline the next event is taken as one (see deliver): continuity is claimed
          // again only for what follows it.
          this.logger.warn({ err: error, threadId: state.threadId }, 'could not read the live baseline');
        });
      }
    }
    this.reportSignalGap(reason);
  }

  /** Standalone: the subscriber connection dropped; the server forgot every subscription. */
  private readonly subscriberOnClose = () => {
    this.generation += 1;
    for (const state of this.channels.values()) state.subscribed = false;
    if (!this.up) return;
    this.up = false;
    if (!this.closed) {
      for (const state of this.channels.values()) {
        if (state.threadId !== null) this.reportGap(state, 'subscriber connection closed');
      }
      this.reportSignalGap('subscriber connection closed');
    }
  };

  /** Standalone: the subscriber (re)connected: subscribe every channel that has listeners again. */
  private readonly subscriberOnReady = () => {
    this.up = true;
    for (const state of [...this.channels.values()]) {
      this.reconcile(state)
        .then(async () => {
          if (state.threadId !== null && state.subscribed && state.lastSeq === null) {
            await this.learnBaseline(state);
          }
        })
        .catch((error: unknown) => {
          if (this.closed) return;
          // Without the subscription the channel would stay silent: start over with a new connection
          // (subscribers are told about the gap when it closes).
          this.logger.warn(
            { err: error, channel: state.channel },
            're-subscribe failed, reconnecting the subscriber',
          );
          if (this.subscriber.status === 'ready') this.subscriber.disconnect(true);
        });
    }
  };

  /** Cluster: a subscriber node went away or ioredis re-subscribed after a topology change. */
  private readonly subscriberOnResubscribe = () => {
    this.possibleLoss('cluster subscribers changed');
  };

  private readonly subscriberOnMessage = (channel: string, payload: string) => {
    const state = this.channels.get(channel);
    if (!state) return;
    if (state.threadId === null) {
      this.deliverSignal(payload);
      return;
    }
    if (state.subscriptions.size === 0) return;
    const envelope = decodeLivePayload(payload);
    if (!envelope) {
      this.logger.warn({ threadId: state.threadId }, 'dropped an unreadable live event');
      return;
    }
    if (state.lastSeq === null) {
      state.early.push(envelope.liveSeq);
    } else if (envelope.liveSeq <= state.lastSeq) {
      this.logger.warn(
        { threadId: state.threadId, liveSeq: envelope.liveSeq },
        'dropped a repeated live event',
      );
      return;
    } else {
      // A thread-deleted after a hole is the thread's last word (it was lost and re-created, or
      // its counter started over): deliver it as such rather than as a gap.
      if (envelope.liveSeq !== state.lastSeq + 1 && envelopeType(envelope) !== 'thread-deleted') {
        this.reportGap(state, `live sequence jumped from ${state.lastSeq} to ${envelope.liveSeq}`);
      }
      state.lastSeq = envelope.liveSeq;
    }
    for (const subscription of state.subscriptions) {
      try {
        subscription.listener(envelope);
      } catch (error) {
        this.logger.error({ err: error, threadId: state.threadId }, 'live listener threw');
      }
    }
  };

  private deliverSignal(payload: string) {
    const signal = parseSignal(payload);
    if (!signal) {
      this.logger.warn({ payload: payload.slice(0, 200) }, 'dropped an unreadable control signal');
      return;
    }
    for (const { onSignal } of this.signalListeners) {
      try {
        onSignal(signal);
      } catch (error) {
        this.logger.error({ err: error, signal }, 'signal listener threw');
      }
    }
  }
}

const LIVE_HEAD = '{"liveSeq":';
const LIVE_SEPARATOR = ',"event":';

/** `{"liveSeq":N,"event":<frame>}` → the envelope, with `frame` exactly the published frame. */
export function decodeLivePayload(payload: string): LiveEnvelope | null {
  if (!payload.startsWith(LIVE_HEAD) || !payload.endsWith('}')) return null;
  const separator = payload.indexOf(LIVE_SEPARATOR, LIVE_HEAD.length);
  if (separator < 0) return null;
  const liveSeq = Number(payload.slice(LIVE_HEAD.length, separator));
  return envelopeOf(liveSeq, payload.slice(separator + LIVE_SEPARATOR.length, -1));
}

export function envelopeOf(liveSeq: number, frame: string): LiveEnvelope | null {
  if (!Number.isSafeInteger(liveSeq) || liveSeq < 1) return null;
  if (frame.startsWith(DELTA_PREFIX) && frame.endsWith('}')) {
    // Deltas are most events and are forwarded as they are: parsed only if someone reads `event`.
    let parsed: ThreadEvent | undefined;
    const envelope = { liveSeq, frame } as LiveEnvelope;
    Object.defineProperty(envelope, 'event', {
      enumerable: true,
      get: () => (parsed ??= parseJson(frame) as ThreadEvent),
    });
    return envelope;
  }
  const event = parseJson(frame);
  if (!isRecord(event) || typeof event.type !== 'string' || typeof event.threadId !== 'string') return null;
  return { liveSeq, event: event as ThreadEvent, frame };
}

const DELTA_PREFIX = '{"type":"message-delta","threadId":"';

function parseSignal(payload: string): ControlSignal | null {
  const signal = parseJson(payload);
  if (
    isRecord(signal) &&
    signal.type === 'load' &&
    typeof signal.instanceId === 'string' &&
    typeof signal.delayMs === 'number'
  ) {
    return { type: 'load', instanceId: signal.instanceId, delayMs: signal.delayMs };
  }
  if (!isRecord(signal) || typeof signal.threadId !== 'string') return null;
  if (signal.type === 'delete') return { type: 'delete', threadId: signal.threadId };
  if (
    signal.type === 'cancel' &&
    typeof signal.runId === 'string' &&
    (signal.reason === 'cancelled' || signal.reason === 'superseded')
  ) {
    return { type: 'cancel', threadId: signal.threadId, runId: signal.runId, reason: signal.reason };
  }
  return null;
}

/** JSON.parse that answers undefined for text that is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
