// Runs: one at a time per thread cluster-wide (a lease in the store, fenced writes), posts queued
// while a run is active, cancellation by a control signal that reaches whichever instance runs
// the thread, and a drain on shutdown that stores what still streams as `interrupted`.
import { nanoid } from 'nanoid';
import type { Message } from '../protocol/frames.ts';
import { ErrorCode, MessageStatus, RunEndReason } from '../protocol/codes.ts';
import { RequestError } from '../errors.ts';
import { RunAbort } from '../agents/group-chat.ts';
import { foldCurrentRun, type InFlightMessage } from './current-run.ts';
import { DeltaCoalescer } from './delta-coalescer.ts';
import { StoreError, type LeaseHandle, type Store, type StoredItem } from '../store/store.ts';
import type { TeamRegistry } from '../teams/team.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

export interface RunManagerOptions {
  store: Store;
  teams: TeamRegistry;
  instanceId: string;
  leaseMs: number;
  queueMax: number;
  /** How many stored messages a run gives the agents as context. */
  contextMessages?: number;
  /** Text deltas arriving within this window of the last published one are merged (0: never). */
  deltaWindowMs?: number;
  logger: Logger;
  metrics: Metrics;
}

interface ActiveRun {
  runId: string;
  controller: AbortController;
  done: Promise<void>;
}

export interface PostInput {
  threadId: string;
  clientMessageId: string;
  text: string;
  author: string;
}

export class RunManager {
  private readonly options: Required<RunManagerOptions>;
  private readonly active = new Map<string, ActiveRun>();
  private readonly starting = new Set<string>();
  private readonly kicks = new Set<Promise<void>>();
  private draining = false;
  private readonly offSignal: () => void;

  constructor(options: RunManagerOptions) {
    this.options = { contextMessages: 200, deltaWindowMs: 0, ...options };
    this.offSignal = options.store.onSignal((signal) => {
      const run = this.active.get(signal.threadId);
      if (!run) return;
      if (signal.type === 'cancel' && signal.runId === run.runId) {
        run.controller.abort(new RunAbort(signal.reason));
      } else if (signal.type === 'delete') {
        run.controller.abort(new RunAbort('deleted'));
      }
    });
  }

  get activeRuns(): number {
    return this.active.size;
  }

  /**
   * Stores a user message and broadcasts it (one atomic step); a run then starts, or the message
   * waits for the next one. The gateway holds the thread's events for the poster's socket until it
   * has sent `posted`, so the reply precedes the broadcast `message` there.
   */
  async post(input: PostInput): Promise<{ item: StoredItem; duplicate: boolean; queued: boolean }> {
    const { store } = this.options;
    const thread = await store.getThread(input.threadId);
    if (!thread) throw new RequestError(ErrorCode.notFound, 'thread not found');
    const team = this.options.teams.get(thread.team);
    if (!team) throw new RequestError(ErrorCode.internal, "the thread's team is not available");
    // A retry of a stored post is answered as such before any limit could refuse it.
    const previous = await store.findByClientMessageId(input.threadId, input.clientMessageId);
    if (previous) return { item: previous, duplicate: true, queued: false };
    if (this.draining) throw new RequestError(ErrorCode.unavailable, 'this instance is shutting down');

    const runActive = (await store.leaseHolder(input.threadId)) !== null;
    if (runActive && team.multitask === 'reject') {
      throw new RequestError(ErrorCode.busy, 'a run is active on this thread');
    }
    if (runActive && (await store.queueLength(input.threadId)) >= (team.queueMax ?? this.options.queueMax)) {
      throw new RequestError(ErrorCode.busy, 'too many posts are waiting on this thread');
    }
    const message: Message = {
      id: nanoid(16),
      role: 'user',
      author: input.author,
      text: input.text,
      status: MessageStatus.completed,
      createdAt: new Date().toISOString(),
      clientMessageId: input.clientMessageId,
    };
    const { item, duplicate } = await store.appendAndPublish(input.threadId, message, 'message');
    if (duplicate) return { item, duplicate, queued: false };
    this.options.metrics.messages.inc({ role: 'user', status: MessageStatus.completed });
    await store.enqueue(input.threadId, message.id, Number.MAX_SAFE_INTEGER);
    if (runActive && team.multitask === 'interrupt') {
      const runId = await this.activeRunId(input.threadId);
      if (runId)
        await store.signal({ type: 'cancel', threadId: input.threadId, runId, reason: 'superseded' });
    }
    this.kick(input.threadId);
    return { item, duplicate, queued: runActive };
  }

  /** The id of the thread's active run anywhere in the cluster, or null. */
  async activeRunId(threadId: string): Promise<string | null> {
    const local = this.active.get(threadId);
    if (local) return local.runId;
    const { events } = await this.options.store.currentRun(threadId);
    const start = events[0]?.event;
    return start?.type === 'run-start' ? start.runId : null;
  }

  /** Asks whichever instance runs `runId` to cancel it. */
  async cancel(threadId: string, runId: string): Promise<void> {
    await this.options.store.signal({ type: 'cancel', threadId, runId, reason: 'cancelled' });
  }

  /** Cancels an active run, deletes the thread and tells every subscriber. */
  async deleteThread(threadId: string): Promise<boolean> {
    const { store } = this.options;
    await store.signal({ type: 'delete', threadId });
    await this.deleteRemoteConversations(threadId);
    const existed = await store.deleteThread(threadId);
    if (existed) await store.publish(threadId, { type: 'thread-deleted', threadId });
    return existed;
  }

  /** Deletes what the thread's model clients keep at their provider (Responses API state). */
  private async deleteRemoteConversations(threadId: string): Promise<void> {
    const thread = await this.options.store.getThread(threadId);
    const team = thread ? this.options.teams.get(thread.team) : undefined;
    for (const model of team?.models() ?? []) {
      if (!model.deleteConversation) continue;
      await model
        .deleteConversation(threadId)
        .catch((error: unknown) =>
          this.options.logger.warn(
            { err: error, threadId, model: model.id },
            'could not delete remote conversation state',
          ),
        );
    }
  }

  /** Starts a run for the thread's queued posts when nobody runs it. Never throws. */
  kick(threadId: string): void {
    const task = this.tryRun(threadId)
      .catch((error: unknown) => this.options.logger.error({ err: error, threadId }, 'run failed to start'))
      .finally(() => this.kicks.delete(task));
    this.kicks.add(task);
  }

  /**
   * Stops new runs, lets active runs finish for up to `drainMs`, then interrupts what still runs
   * (stored as `interrupted`, `run-end` `interrupted`) and waits for it.
   */
  async drain(drainMs: number): Promise<void> {
    this.draining = true;
    const runs = () => [...this.active.values()].map((run) => run.done);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(runs()),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainMs);
      }),
    ]);
    clearTimeout(timer);
    for (const run of this.active.values()) run.controller.abort(new RunAbort('interrupted'));
    await Promise.all(runs());
    await Promise.all([...this.kicks]);
  }

  close(): void {
    this.offSignal();
  }

  private async tryRun(threadId: string): Promise<void> {
    const { store } = this.options;
    while (!this.draining && !this.active.has(threadId) && !this.starting.has(threadId)) {
      this.starting.add(threadId);
      let lease: LeaseHandle | null;
      try {
        lease = await store.acquireLease(threadId, this.options.instanceId, this.options.leaseMs);
      } finally {
        this.starting.delete(threadId);
      }
      if (!lease) return; // another instance runs it and will take the queue afterwards
      try {
        await this.recoverInterruptedRun(threadId, lease);
        const triggers = await store.drainQueue(threadId);
        if (triggers.length > 0 && !this.draining) await this.execute(threadId, lease);
      } finally {
        await store
          .releaseLease(lease)
          .catch((error: unknown) =>
            this.options.logger.warn({ err: error, threadId }, 'lease release failed; it will expire'),
          );
      }
      // A post may have been queued between the drain and the release: look again.
      if ((await store.queueLength(threadId)) === 0) return;
    }
  }

  /**
   * Failover: a current run without its run-end, found by the new lease holder, belonged to an
   * instance that died (its lease expired). Stores its in-flight message as `interrupted` with the
   * text so far and ends the run `interrupted`, so viewers everywhere learn what happened.
   */
  private async recoverInterruptedRun(threadId: string, lease: LeaseHandle): Promise<void> {
    const { store, logger, metrics } = this.options;
    const { events } = await store.currentRun(threadId);
    const { runStart, inFlight } = foldCurrentRun(events);
    if (!runStart) return;
    logger.warn({ threadId, runId: runStart.runId }, 'recovering a run whose instance stopped');
    if (inFlight) {
      const message = messageCutShort(runStart.runId, inFlight, MessageStatus.interrupted);
      await store.appendAndPublish(threadId, message, 'message-end', { fence: lease });
      metrics.messages.inc({ role: 'assistant', status: MessageStatus.interrupted });
    }
    await store.publish(threadId, {
      type: 'run-end',
      threadId,
      runId: runStart.runId,
      reason: RunEndReason.interrupted,
    });
    metrics.runs.inc({ reason: RunEndReason.interrupted });
  }

  /**
   * Looks for runs whose instance died: a thread with a current run but a free lease. Called
   * periodically for the threads this instance has viewers of; recovery then runs queued posts.
   */
  async sweep(threadIds: Iterable<string>): Promise<void> {
    for (const threadId of threadIds) {
      if (this.draining) return;
      if (this.active.has(threadId) || this.starting.has(threadId)) continue;
      const holder = await this.options.store.leaseHolder(threadId);
      if (holder !== null) continue;
      // A run without its run-end (its instance died; tryRun recovers it first), or posts left
      // queued by an instance that shut down between runs.
      const { events } = await this.options.store.currentRun(threadId);
      if (events.length > 0 || (await this.options.store.queueLength(threadId)) > 0) this.kick(threadId);
    }
  }

  private async execute(threadId: string, lease: LeaseHandle): Promise<void> {
    const { store, logger, metrics } = this.options;
    const runId = nanoid(16);
    const controller = new AbortController();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    this.active.set(threadId, { runId, controller, done });
    metrics.runsActive.inc();
    const renew = setInterval(
      () => {
        store.renewLease(lease, this.options.leaseMs).then(
          (held) => {
            if (!held) controller.abort(new RunAbort('interrupted'));
          },
          (error: unknown) => logger.warn({ err: error, threadId }, 'lease renewal failed'),
        );
      },
      Math.max(100, Math.floor(this.options.leaseMs / 3)),
    );
    const log = logger.child({ threadId, runId });
    let deltas: DeltaCoalescer | null = null;
    try {
      const thread = await store.getThread(threadId);
      const team = thread ? this.options.teams.get(thread.team) : undefined;
      if (!thread || !team) return;
      const { items } = await store.readLatest(threadId, this.options.contextMessages);
      await store.publish(threadId, { type: 'run-start', threadId, runId, team: team.name });
      log.info('run started');
      const chat = team.createGroupChat();
      for await (const event of chat.run({
        history: items.map((item) => item.message),
        signal: controller.signal,
        runId,
        conversationKey: threadId,
      })) {
        if (isDeleted(controller.signal)) return;
        switch (event.type) {
          case 'message-start': {
            let seq = 0;
            const messageId = event.messageId;
            deltas?.discard();
            deltas = new DeltaCoalescer((delta) => {
              seq += 1;
              return store.publish(threadId, { type: 'message-delta', threadId, messageId, seq, ...delta });
            }, this.options.deltaWindowMs);
            await store.publish(threadId, {
              type: 'message-start',
              threadId,
              runId,
              messageId: event.messageId,
              agent: event.agent,
              createdAt: event.createdAt,
            });
            break;
          }
          case 'message-delta':
            await deltas?.push(event.delta);
            break;
          case 'message-end':
            await deltas?.drain();
            deltas = null;
            await store.appendAndPublish(threadId, event.message, 'message-end', { fence: lease });
            metrics.messages.inc({ role: 'assistant', status: event.message.status });
            if (event.message.usage) metrics.tokens.inc(event.message.usage.outputTokens);
            if (this.draining && event.message.status === MessageStatus.completed) {
              // Shutting down: the message finished within the drain; start no further turn.
              await this.publishRunEnd(threadId, runId, RunEndReason.interrupted, 'shutdown');
              return;
            }
            break;
          case 'run-end':
            await this.publishRunEnd(threadId, runId, event.reason, event.detail, event.explanation);
            break;
          default:
            event satisfies never;
        }
      }
    } catch (error) {
      if (error instanceof StoreError && (error.code === 'lease-lost' || error.code === 'not-found')) {
        log.warn({ code: error.code }, 'run stopped: it can no longer write to the thread');
        if (error.code === 'not-found') {
          await this.announceLostThread(threadId).catch((announceError: unknown) =>
            log.warn({ err: announceError }, 'could not tell viewers that the thread is gone'),
          );
        }
      } else {
        log.error({ err: error }, 'run crashed');
        await this.endAfterCrash(threadId, runId, lease).catch((endError: unknown) =>
          log.error({ err: endError }, 'could not end the crashed run'),
        );
      }
    } finally {
      deltas?.discard();
      clearInterval(renew);
      this.active.delete(threadId);
      metrics.runsActive.dec();
      finish();
    }
  }

  private async publishRunEnd(
    threadId: string,
    runId: string,
    reason: RunEndReason,
    detail?: string,
    explanation?: string,
  ): Promise<void> {
    await this.options.store.publish(threadId, {
      type: 'run-end',
      threadId,
      runId,
      reason,
      ...(detail === undefined ? {} : { detail }),
      ...(explanation === undefined ? {} : { explanation }),
    });
    this.options.metrics.runs.inc({ reason });
    this.options.logger.info({ threadId, runId, reason, detail, explanation }, 'run ended');
  }

  /**
   * The thread vanished under a run without a delete-thread (Redis lost its data: FLUSHALL, a restart
   * without persistence, eviction). Nobody else will end the run its viewers are watching: tell them
   * the thread is gone, as a delete would, so that none waits for the rest of the run.
   */
  private async announceLostThread(threadId: string): Promise<void> {
    if (await this.options.store.getThread(threadId)) return;
    await this.options.store.publish(threadId, { type: 'thread-deleted', threadId });
    this.options.logger.warn({ threadId }, 'thread lost from the store mid-run: told its viewers it is gone');
  }

  /**
   * Best effort after an unexpected error (a store command that failed or timed out while the
   * store still answers): the message in flight is stored `failed` with the text streamed so far,
   * as its viewers saw it, then the run ends. When the store does not answer, this fails too, and
   * the run is recovered as interrupted once its lease expires (`sweep`).
   */
  private async endAfterCrash(threadId: string, runId: string, lease: LeaseHandle): Promise<void> {
    const { store, metrics } = this.options;
    const { runStart, inFlight } = foldCurrentRun((await store.currentRun(threadId)).events);
    if (runStart?.runId === runId && inFlight) {
      const message: Message = {
        ...messageCutShort(runId, inFlight, MessageStatus.failed),
        error: { code: 'internal', message: 'the run stopped on an internal error' },
      };
      await store.appendAndPublish(threadId, message, 'message-end', { fence: lease });
      metrics.messages.inc({ role: 'assistant', status: MessageStatus.failed });
    }
    await this.publishRunEnd(threadId, runId, RunEndReason.failed, 'internal');
  }
}

/** The stored form of a message whose stream was cut short: the text and parts streamed so far. */
function messageCutShort(runId: string, inFlight: InFlightMessage, status: MessageStatus): Message {
  const parts = inFlight.content.snapshotParts();
  return {
    id: inFlight.start.messageId,
    role: 'assistant',
    author: inFlight.start.agent,
    text: inFlight.content.text,
    status,
    createdAt: inFlight.start.createdAt ?? new Date().toISOString(),
    runId,
    ...(parts.length > 0 ? { parts } : {}),
  };
}

function isDeleted(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof RunAbort && signal.reason.kind === 'deleted';
}
