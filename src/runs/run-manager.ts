// Runs: one at a time per thread cluster-wide. Each state change is one store transition
// (docs/storage.md): a post is stored, published and queued in one step (and, when the thread is
// idle, the same step starts the run that answers it); a run's start moves the queue into its
// record; every event it publishes is fenced by its lease; its end publishes run-end and starts
// the next run or releases the lease. Cancel and delete are durable state the holder reads on
// each write and renewal; control signals are only the fast path. Orphaned runs (their holder
// died or stalled past its lease) and posts left waiting are found by the sweep: threads with
// local viewers often, every thread through the cluster-wide index.
import { nanoid } from 'nanoid';
import type { Message, ThreadEvent } from '../protocol/frames.ts';
import { ErrorCode, MessageStatus, RunEndReason } from '../protocol/codes.ts';
import { RequestError, StoreError } from '../errors.ts';
import { RunAbort, type GroupChatEvent } from '../agents/group-chat.ts';
import { foldCurrentRun, type InFlightMessage } from './current-run.ts';
import { DeltaCoalescer } from './delta-coalescer.ts';
import { adaptiveDeltaWindow, type DeltaWindow } from './delta-window.ts';
import { CrashPoint, reach } from './crash-points.ts';
import { ContextCache } from './context-cache.ts';
import { SpeculativeTurn } from './speculative-turn.ts';
import type {
  CancelReason,
  FinishResult,
  LeaseHandle,
  PostResult,
  RunClaim,
  RunEnd,
  RunRecord,
  Store,
  StoredItem,
} from '../store/store.ts';
import type { Team, TeamRegistry } from '../teams/team.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/**
 * A post marks its thread in the sweep index due this long after it: longer than any store
 * command may take, so that a sweep never finds the thread idle while the post is still being
 * written.
 */
const POST_SWEEP_GRACE_MS = 15_000;
/**
 * A lease holder marks its thread in the lease index due this long after its lease runs out (a
 * renewal's mark may land just before the renewal itself: on Cluster they go to different nodes).
 */
const LEASE_MARK_MARGIN_MS = 200;
/** Threads the sweep takes from the index per round. */
const SWEEP_BATCH = 100;
/** Threads whose team this instance remembers (a post needs it before its one store step). */
const TEAM_CACHE_SIZE = 10_000;
/** An instance whose event loop runs at least this late (mean, ms) reports it to its peers. */
const LOAD_REPORT_MIN_DELAY_MS = 1;

export interface RunManagerOptions {
  store: Store;
  teams: TeamRegistry;
  instanceId: string;
  leaseMs: number;
  queueMax: number;
  /** How many stored messages a run gives the agents as context. */
  contextMessages?: number | undefined;
  /** Text deltas arriving within this window of the last published one are merged (0: never). */
  deltaWindowMs?: number | undefined;
  /** The window grows with the event loop's delay up to this (delta-window.ts); ≤ deltaWindowMs: fixed. */
  deltaWindowMaxMs?: number | undefined;
  /**
   * Call the model for a post's run while the post is being stored, when this instance holds the
   * thread's whole context (speculative-turn.ts). Needs `liveSeqOf`. @default false
   */
  speculativeStart?: boolean | undefined;
  /** The newest live seq this instance has seen of the thread (its hub), or undefined. */
  liveSeqOf?: (threadId: string) => number | undefined;
  logger: Logger;
  metrics: Metrics;
}

interface ActiveRun {
  runId: string;
  lease: LeaseHandle;
  controller: AbortController;
  done: Promise<void>;
  /** Set once a write was refused for the lease: nothing more may be written. */
  leaseLost: boolean;
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
  /** Threads with a speculative turn waiting for its post's answer (one at a time). */
  private readonly speculating = new Set<string>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly teamOfThread = new Map<string, string>();
  private readonly contexts: ContextCache;
  private draining = false;
  /** While draining: the last event each run ended by the drain published (thread → live seq). */
  private readonly drainedEnds = new Map<string, number>();
  private readonly offSignal: () => void;
  private readonly deltaWindow: DeltaWindow;

  constructor(options: RunManagerOptions) {
    this.options = {
      contextMessages: 200,
      deltaWindowMs: 0,
      deltaWindowMaxMs: 0,
      speculativeStart: false,
      liveSeqOf: () => undefined,
      ...options,
    };
    this.contexts = new ContextCache(options.store, this.options.contextMessages);
    let reportedLate = false;
    this.deltaWindow = adaptiveDeltaWindow(this.options.deltaWindowMs, this.options.deltaWindowMaxMs, {
      // Tell the other instances while this one runs late (and once when it no longer does).
      onSample: (delayMs) => {
        const late = delayMs >= LOAD_REPORT_MIN_DELAY_MS;
        if (!late && !reportedLate) return;
        reportedLate = late;
        options.store
          .signal({ type: 'load', instanceId: options.instanceId, delayMs: late ? delayMs : 0 })
          .catch((error: unknown) => options.logger.debug({ err: error }, 'load report failed'));
      },
    });
    this.offSignal = options.store.onSignal(
      (signal) => {
        if (signal.type === 'load') {
          if (signal.instanceId !== options.instanceId)
            this.deltaWindow.observe(signal.instanceId, signal.delayMs);
          return;
        }
        const run = this.active.get(signal.threadId);
        if (!run) return;
        if (signal.type === 'cancel' && signal.runId === run.runId) {
          run.controller.abort(new RunAbort(signal.reason));
        } else if (signal.type === 'delete') {
          run.controller.abort(new RunAbort('deleted'));
        }
      },
      // Signals may have been lost: read what they stand for from the store now.
      () => {
        for (const run of this.active.values()) void this.renew(run);
      },
    );
  }

  get activeRuns(): number {
    return this.active.size;
  }

  /**
   * Stores a user message, broadcasts it and queues it, in one store step that also starts the run
   * when the thread is idle. The gateway holds the thread's events for the poster's socket until
   * it has sent `posted`, so the reply precedes the broadcast `message` there.
   */
  async post(input: PostInput): Promise<{ item: StoredItem; duplicate: boolean; queued: boolean }> {
    const { store } = this.options;
    if (this.draining) {
      // A retry of a stored post is still answered; nothing new starts on a draining instance.
      const previous = await store.findByClientMessageId(input.threadId, input.clientMessageId);
      if (previous) return { item: previous, duplicate: true, queued: false };
      throw new RequestError(ErrorCode.unavailable, 'this instance is shutting down');
    }
    let teamName = await this.teamName(input.threadId);
    const message: Message = {
      id: nanoid(16),
      role: 'user',
      author: input.author,
      text: input.text,
      status: MessageStatus.completed,
      createdAt: new Date().toISOString(),
      clientMessageId: input.clientMessageId,
    };
    for (let attempt = 0; ; attempt += 1) {
      const team = this.options.teams.get(teamName);
      if (!team) throw new RequestError(ErrorCode.internal, "the thread's team is not available");
      const { result, speculation } = await this.postOnce(input.threadId, message, team);
      if (result.status !== 'team-changed') return this.afterPost(input.threadId, result, speculation);
      this.dropSpeculation(speculation);
      // The thread was deleted and created again with another team since this instance looked.
      this.rememberTeam(input.threadId, result.team);
      teamName = result.team;
      if (attempt > 0) throw new RequestError(ErrorCode.unavailable, 'the thread changed meanwhile; retry');
    }
  }

  private async postOnce(
    threadId: string,
    message: Message,
    team: Team,
  ): Promise<{ result: PostResult; speculation: SpeculativeTurn | null }> {
    const { store, leaseMs, contextMessages, instanceId } = this.options;
    const runId = nanoid(16);
    const speculation = this.speculate(threadId, message, team, runId);
    const [posted, marked, leaseMarked] = await Promise.allSettled([
      store.post({
        threadId,
        message,
        team: team.name,
        multitask: team.multitask,
        queueMax: team.queueMax ?? this.options.queueMax,
        start: {
          owner: instanceId,
          leaseMs,
          runId,
          contextLimit: contextMessages,
          contextAfter: this.contexts.mark(threadId),
        },
      }),
      // In the same round trip: a post whose instance dies now is still found by a sweep, and
      // the run the post may start is found about a lease time after its lease runs out.
      store.markForSweep(threadId, POST_SWEEP_GRACE_MS),
      store.markForSweep(threadId, leaseMs + LEASE_MARK_MARGIN_MS, 'leases'),
    ]);
    if (speculation) this.speculating.delete(threadId);
    for (const mark of [marked, leaseMarked]) {
      if (mark.status === 'rejected') {
        this.options.logger.warn({ err: mark.reason, threadId }, 'could not mark the thread for the sweep');
      }
    }
    if (posted.status === 'rejected') {
      this.dropSpeculation(speculation);
      const error: unknown = posted.reason;
      if (error instanceof StoreError && error.code === 'not-found') {
        this.teamOfThread.delete(threadId);
        throw new RequestError(ErrorCode.notFound, 'thread not found');
      }
      // The post may have been done with the run it started, only its answer lost: that run is
      // this instance's to execute (the client's retry is answered `duplicate`).
      if (error instanceof StoreError && error.code === 'unavailable')
        this.track(this.adoptLostRun(threadId, runId));
      throw error;
    }
    return { result: posted.value, speculation };
  }

  /**
   * Starts the run's first turn now when this instance holds the thread's whole context: the
   * thread has published nothing since this instance's last run on it ended (its hub saw every
   * event), no run is active here, and no model of the team keeps state at its provider (a call
   * there is recorded). Otherwise null: the run starts from the post's answer, as always.
   */
  private speculate(threadId: string, message: Message, team: Team, runId: string): SpeculativeTurn | null {
    if (!this.options.speculativeStart || this.draining) return null;
    if (this.active.has(threadId) || this.starting.has(threadId) || this.speculating.has(threadId))
      return null;
    const liveSeq = this.options.liveSeqOf(threadId);
    if (liveSeq === undefined) return null;
    const history = this.contexts.predict(threadId, liveSeq, message);
    if (!history) return null;
    if (team.models().some((model) => model.deleteConversation !== undefined)) return null;
    this.speculating.add(threadId);
    return new SpeculativeTurn(team.createGroupChat(), { history, runId, conversationKey: threadId });
  }

  private dropSpeculation(speculation: SpeculativeTurn | null | undefined): void {
    if (!speculation) return;
    speculation.discard();
    this.options.metrics.speculativeTurns.inc({ outcome: 'discarded' });
  }

  private afterPost(
    threadId: string,
    result: Exclude<PostResult, { status: 'team-changed' }>,
    speculation: SpeculativeTurn | null,
  ): { item: StoredItem; duplicate: boolean; queued: boolean } {
    if (result.status !== 'stored' || !result.run) this.dropSpeculation(speculation);
    switch (result.status) {
      case 'busy':
        throw new RequestError(
          ErrorCode.busy,
          result.reason === 'run-active'
            ? 'a run is active on this thread'
            : 'too many posts are waiting on this thread',
        );
      case 'duplicate':
        if (result.needsRun) this.kick(threadId);
        return { item: result.item, duplicate: true, queued: result.queued };
      case 'stored':
        reach(CrashPoint.postStored);
        this.options.metrics.messages.inc({ role: 'user', status: MessageStatus.completed });
        if (result.supersededRunId) {
          const runId = result.supersededRunId;
          this.options.store
            .signal({ type: 'cancel', threadId, runId, reason: 'superseded' })
            .catch((error: unknown) =>
              this.options.logger.warn({ err: error, threadId }, 'cancel signal failed'),
            );
        }
        if (result.run) this.track(this.runClaims(result.run, speculation));
        else if (result.needsRun) this.kick(threadId);
        return { item: result.item, duplicate: false, queued: result.queued };
    }
  }

  /**
   * Records a cancel for the thread's active run (its holder stops at its next write or renewal;
   * the control signal makes that immediate) and answers the run's id, or null when no run was
   * active. A run that was answered here ends `cancelled`.
   */
  async cancel(threadId: string, reason: CancelReason = 'cancelled'): Promise<string | null> {
    const { store } = this.options;
    const runId = await store.requestCancel(threadId, reason);
    if (runId) {
      await store
        .signal({ type: 'cancel', threadId, runId, reason })
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error, threadId }, 'cancel signal failed'),
        );
    }
    return runId;
  }

  /** Deletes the thread (an active run stops at its next write) and tells every subscriber. */
  async deleteThread(threadId: string): Promise<boolean> {
    const { store } = this.options;
    await this.deleteRemoteConversations(threadId);
    const existed = await store.deleteThread(threadId);
    this.teamOfThread.delete(threadId);
    this.contexts.forget(threadId);
    if (existed) {
      await store
        .signal({ type: 'delete', threadId })
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error, threadId }, 'delete signal failed'),
        );
    }
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

  /** Takes the thread's lease and runs what waits (recovering an orphaned run first). Never throws. */
  kick(threadId: string): void {
    this.track(this.tryRun(threadId));
  }

  /**
   * Stops new runs, lets active runs finish for up to `drainMs`, then interrupts what still runs
   * (stored as `interrupted`, `run-end` `interrupted`) and waits for it. Posts still waiting are
   * left to another instance's sweep. Answers the live seq of each run-end it published, so that
   * the caller can let them reach local viewers before closing their connections.
   */
  async drain(drainMs: number): Promise<Map<string, number>> {
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
    await Promise.all([...this.tasks]);
    return new Map(this.drainedEnds);
  }

  close(): void {
    this.offSignal();
    this.deltaWindow.close();
  }

  /**
   * Looks for work nobody does: an orphaned run (a run record whose lease expired) or posts waiting
   * without a lease holder. Checks `watched` (threads with local viewers) every time, and the
   * threads the cluster-wide index says are due.
   */
  async sweep(watched: Iterable<string>): Promise<void> {
    const { store, leaseMs } = this.options;
    const seen = new Set<string>();
    for (const threadId of watched) {
      if (this.draining) return;
      seen.add(threadId);
      if (this.active.has(threadId) || this.starting.has(threadId)) continue;
      const state = await store.runState(threadId);
      if (state.exists && !state.leaseHeld && (state.running || state.queued > 0)) this.kick(threadId);
    }
    if (this.draining) return;
    for (const threadId of await store.claimDueThreads(SWEEP_BATCH, Math.max(1000, leaseMs))) {
      if (this.draining) return;
      if (this.active.has(threadId) || this.starting.has(threadId) || seen.has(threadId)) continue;
      const state = await store.runState(threadId);
      if (!state.exists || (!state.leaseHeld && !state.running && state.queued === 0)) {
        await store.forgetIdle(threadId);
      } else if (!state.leaseHeld) {
        this.kick(threadId);
      }
    }
  }

  // --- internals -----------------------------------------------------------------------------

  private track(task: Promise<void>): void {
    const tracked = task
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'run task failed'))
      .finally(() => this.tasks.delete(tracked));
    this.tasks.add(tracked);
  }

  private async teamName(threadId: string): Promise<string> {
    const known = this.teamOfThread.get(threadId);
    if (known !== undefined) return known;
    const thread = await this.options.store.getThread(threadId);
    if (!thread) throw new RequestError(ErrorCode.notFound, 'thread not found');
    this.rememberTeam(threadId, thread.team);
    return thread.team;
  }

  private rememberTeam(threadId: string, team: string) {
    this.teamOfThread.delete(threadId);
    this.teamOfThread.set(threadId, team);
    if (this.teamOfThread.size > TEAM_CACHE_SIZE) {
      const oldest = this.teamOfThread.keys().next();
      if (!oldest.done) this.teamOfThread.delete(oldest.value);
    }
  }

  private async tryRun(threadId: string): Promise<void> {
    const { store, logger, instanceId, leaseMs, contextMessages } = this.options;
    if (this.draining || this.active.has(threadId) || this.starting.has(threadId)) return;
    this.starting.add(threadId);
    let lease: LeaseHandle | null = null;
    try {
      const acquired = await store.acquireLease(threadId, instanceId, leaseMs).catch((error: unknown) => {
        if (error instanceof StoreError && error.code === 'not-found') return null;
        throw error;
      });
      if (!acquired) return; // another instance holds it and will take the queue afterwards
      lease = acquired.lease;
      this.track(this.markLease(threadId));
      if (acquired.orphan) {
        reach(CrashPoint.beforeRecover);
        await this.recover(lease, acquired.orphan);
      }
      if (this.draining) return;
      const claim = await store.startRun(lease, {
        runId: nanoid(16),
        contextLimit: contextMessages,
        contextAfter: this.contexts.mark(threadId),
      });
      if (!claim) return;
      lease = null; // the run owns it now: its end releases it
      this.starting.delete(threadId);
      await this.runClaims(claim);
    } catch (error) {
      if (error instanceof StoreError && error.code === 'lease-lost') {
        logger.warn({ threadId }, 'lost the lease before the run started');
        lease = null;
      } else {
        throw error;
      }
    } finally {
      this.starting.delete(threadId);
      if (lease) {
        const held = lease;
        await store
          .releaseLease(held)
          .catch((error: unknown) =>
            logger.warn({ err: error, threadId }, 'lease release failed; it will expire'),
          );
        if (this.draining) await this.markDue(threadId);
      }
    }
  }

  /**
   * Failover: a run record without its run-end, found by the new lease holder, belonged to an
   * instance that died or stalled past its lease. Its in-flight message is stored `interrupted`
   * with the text so far and the run ends `interrupted` (or `cancelled`, when a cancel was
   * recorded), so viewers everywhere learn what happened.
   */
  private async recover(lease: LeaseHandle, orphan: RunRecord): Promise<void> {
    const { store, logger, metrics } = this.options;
    logger.warn(
      { threadId: lease.threadId, runId: orphan.runId, posts: orphan.posts.map((post) => post.messageId) },
      'recovering a run whose instance stopped',
    );
    const { runStart, inFlight } = foldCurrentRun((await store.currentRun(lease.threadId)).events);
    const message =
      runStart?.runId === orphan.runId && inFlight
        ? messageCutShort(orphan.runId, inFlight, MessageStatus.interrupted)
        : null;
    const { runEnd, message: stored } = await store.recoverRun(lease, orphan, message);
    if (stored) metrics.messages.inc({ role: 'assistant', status: stored.message.status });
    if (runEnd.event.type === 'run-end') metrics.runs.inc({ reason: runEnd.event.reason });
  }

  /** Runs a claimed run and, while posts keep waiting, the ones its end starts. */
  private async runClaims(first: RunClaim, speculation: SpeculativeTurn | null = null): Promise<void> {
    let claim: RunClaim | null = first;
    let ahead = speculation;
    while (claim) {
      claim = await this.execute(claim, ahead);
      ahead = null;
    }
  }

  /**
   * Runs one claimed run to its end; answers the next run its end started, or null. `speculation`:
   * the run's first turn, started before the claim (used when its context is the claim's).
   */
  private async execute(
    claim: RunClaim,
    speculation: SpeculativeTurn | null = null,
  ): Promise<RunClaim | null> {
    const { store, logger, metrics, leaseMs } = this.options;
    const { lease, runId } = claim;
    const { threadId } = lease;
    const controller = new AbortController();
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const run: ActiveRun = { runId, lease, controller, done, leaseLost: false };
    this.active.set(threadId, run);
    metrics.runsActive.inc();
    reach(CrashPoint.runStarted);
    const renewal = setInterval(() => void this.renew(run), Math.max(100, Math.floor(leaseMs / 3)));
    const log = logger.child({ threadId, runId });
    let deltas: DeltaCoalescer | null = null;
    /** Writes of the run: a recorded cancel they report stops the run. */
    const checked = <T extends { cancel: CancelReason | null }>(result: T): T => {
      if (result.cancel) controller.abort(new RunAbort(result.cancel));
      return result;
    };
    try {
      log.info({ posts: claim.posts.map((post) => post.messageId) }, 'run started');
      const team = this.options.teams.get(claim.team);
      if (!team) {
        return await this.end(run, {
          reason: RunEndReason.failed,
          detail: 'team',
          explanation: 'the team is not available',
        });
      }
      const history = await this.contexts.contextOf(claim);
      let events: AsyncIterable<GroupChatEvent>;
      if (speculation && speculation.runId === runId && speculation.matches(history)) {
        events = speculation.adopt(controller.signal);
        metrics.speculativeTurns.inc({ outcome: 'used' });
      } else {
        this.dropSpeculation(speculation);
        events = team
          .createGroupChat()
          .run({ history, signal: controller.signal, runId, conversationKey: threadId });
      }
      speculation = null;
      for await (const event of events) {
        if (isDeleted(controller.signal) || run.leaseLost) return null;
        switch (event.type) {
          case 'message-start': {
            let seq = 0;
            const messageId = event.messageId;
            deltas?.discard();
            deltas = new DeltaCoalescer(async (delta) => {
              seq += 1;
              const frame: ThreadEvent = { type: 'message-delta', threadId, messageId, seq, ...delta };
              checked(await store.publishRunEvents(lease, runId, [frame]));
            }, this.deltaWindow.current);
            const start: ThreadEvent = {
              type: 'message-start',
              threadId,
              runId,
              messageId: event.messageId,
              agent: event.agent,
              createdAt: event.createdAt,
            };
            // Not awaited: the model is called at once (time to first token); the start leaves
            // first on the message's publish chain, and a refusal stops the run at the next delta.
            deltas.lead(async () => {
              checked(await store.publishRunEvents(lease, runId, [start]));
              reach(CrashPoint.messageStarted);
            });
            break;
          }
          case 'message-delta':
            await deltas?.push(event.delta);
            break;
          case 'message-end': {
            await deltas?.drain();
            deltas = null;
            const ended = checked(await store.endMessage(lease, runId, event.message));
            this.contexts.append(threadId, ended.item);
            reach(CrashPoint.messageEnded);
            metrics.messages.inc({ role: 'assistant', status: event.message.status });
            if (event.message.usage) metrics.tokens.inc(event.message.usage.outputTokens);
            if (this.draining && event.message.status === MessageStatus.completed) {
              // Shutting down: the message finished within the drain; start no further turn.
              return await this.end(run, { reason: RunEndReason.interrupted, detail: 'shutdown' });
            }
            break;
          }
          case 'run-end':
            return await this.end(run, event);
          default:
            event satisfies never;
        }
      }
      return null;
    } catch (error) {
      deltas?.discard();
      return await this.afterError(run, error);
    } finally {
      this.dropSpeculation(speculation);
      deltas?.discard();
      clearInterval(renewal);
      this.active.delete(threadId);
      metrics.runsActive.dec();
      finish();
    }
  }

  /** Publishes the run's end; starts the next run in the same step unless draining. */
  private async end(run: ActiveRun, end: RunEnd): Promise<RunClaim | null> {
    const { store, leaseMs, contextMessages } = this.options;
    const { threadId } = run.lease;
    const next = this.draining
      ? null
      : {
          runId: nanoid(16),
          contextLimit: contextMessages,
          leaseMs,
          contextAfter: this.contexts.mark(threadId),
        };
    let result: FinishResult;
    try {
      result = await store.finishRun(run.lease, run.runId, end, next);
    } catch (error) {
      // The end may have been done with the next run it started, only its answer lost.
      if (!(error instanceof StoreError && error.code === 'unavailable') || !next) throw error;
      const adopted = await this.reclaim(run.lease, next.runId).catch(() => null);
      if (adopted) {
        this.options.logger.warn(
          { threadId, runId: run.runId },
          'the answer to a run end was lost; went on with the next run',
        );
        return adopted;
      }
      // It did not reach the store (the run is still there): end it again, once.
      result = await store.finishRun(run.lease, run.runId, end, next);
    }
    const ended = result.runEnd.event;
    if (this.draining) this.drainedEnds.set(threadId, result.runEnd.liveSeq);
    if (ended.type === 'run-end') {
      this.options.metrics.runs.inc({ reason: ended.reason });
      this.options.logger.info(
        {
          threadId,
          runId: run.runId,
          reason: ended.reason,
          detail: ended.detail,
        },
        'run ended',
      );
      // The explanation may quote model output (a judge's reason, matched text): debug only.
      if (ended.explanation !== undefined) {
        this.options.logger.debug(
          { threadId, runId: run.runId, explanation: ended.explanation },
          'run end explanation',
        );
      }
    }
    if (!result.next) this.contexts.settle(threadId, result.runEnd.liveSeq);
    if (result.needsRun) await this.markDue(threadId);
    return result.next;
  }

  private async afterError(run: ActiveRun, error: unknown): Promise<RunClaim | null> {
    const { threadId } = run.lease;
    const log = this.options.logger.child({ threadId, runId: run.runId });
    if (error instanceof StoreError && error.code === 'lease-lost') {
      run.leaseLost = true;
      log.warn('run stopped: its lease is lost (another holder recovers it)');
      await this.markDue(threadId);
      return null;
    }
    if (error instanceof StoreError && error.code === 'not-found') {
      log.warn('run stopped: the thread is gone');
      if (!isDeleted(run.controller.signal)) {
        await this.options.store
          .announceLostThread(threadId)
          .catch((announceError: unknown) =>
            log.warn({ err: announceError }, 'could not tell viewers that the thread is gone'),
          );
      }
      return null;
    }
    if (run.leaseLost || isDeleted(run.controller.signal)) return null;
    log.error({ err: error }, 'run crashed');
    return this.endAfterCrash(run).catch(async (endError: unknown) => {
      log.error({ err: endError }, 'could not end the crashed run; the sweep recovers it');
      await this.markDue(threadId);
      return null;
    });
  }

  /**
   * After an unexpected error (a store command that failed or timed out while the store still
   * answers): the message in flight is stored `failed` with the text streamed so far, as its
   * viewers saw it, then the run ends. When the store does not answer, this fails too, and the run
   * is recovered as interrupted once its lease expires (the sweep).
   */
  private async endAfterCrash(run: ActiveRun): Promise<RunClaim | null> {
    const { store, metrics } = this.options;
    this.contexts.forget(run.lease.threadId);
    const { runStart, inFlight } = foldCurrentRun((await store.currentRun(run.lease.threadId)).events);
    if (runStart?.runId === run.runId && inFlight) {
      const message: Message = {
        ...messageCutShort(run.runId, inFlight, MessageStatus.failed),
        error: { code: 'internal', message: 'the run stopped on an internal error' },
      };
      await store.endMessage(run.lease, run.runId, message);
      metrics.messages.inc({ role: 'assistant', status: MessageStatus.failed });
    }
    return this.end(run, { reason: RunEndReason.failed, detail: 'internal' });
  }

  /**
   * Extends the run's lease and reads its durable state: a lost lease stops the run at once (no
   * further write is accepted anyway), a renewal that errors too (the holder cannot prove it
   * still holds the lease), and a recorded cancel stops it as a signal would.
   */
  private async renew(run: ActiveRun): Promise<void> {
    if (run.controller.signal.aborted && run.leaseLost) return;
    try {
      const renewal = this.options.store.renewLease(run.lease, this.options.leaseMs);
      // Sent after the renewal, so that on one connection the mark lands after the new expiry.
      this.track(this.markLease(run.lease.threadId));
      const { held, cancel } = await renewal;
      if (!held) {
        if (!run.leaseLost) {
          this.options.logger.warn(
            { threadId: run.lease.threadId, runId: run.runId },
            'run stopped: its lease renewal was refused (another holder recovers it)',
          );
        }
        run.leaseLost = true;
        run.controller.abort(new RunAbort('interrupted', 'the run lost its lease'));
      } else if (cancel) {
        run.controller.abort(new RunAbort(cancel));
      }
    } catch (error) {
      this.options.logger.warn(
        { err: error, threadId: run.lease.threadId },
        'lease renewal failed: stopping the run',
      );
      run.controller.abort(new RunAbort('interrupted', 'the run could not renew its lease'));
    }
  }

  /**
   * The claim of run `runId` when its record says it is this lease's (a start whose answer was
   * lost), or null.
   */
  private async reclaim(lease: LeaseHandle, runId: string): Promise<RunClaim | null> {
    const record = await this.options.store.runRecord(lease.threadId);
    if (!record || record.runId !== runId || record.owner !== lease.owner || record.token !== lease.token)
      return null;
    return this.options.store.startRun(lease, {
      runId,
      contextLimit: this.options.contextMessages,
      contextAfter: this.contexts.mark(lease.threadId),
    });
  }

  /** After a post whose answer was lost: runs the run it may have started (a few tries, spaced). */
  private async adoptLostRun(threadId: string, runId: string): Promise<void> {
    const { store, instanceId, logger } = this.options;
    for (const delayMs of [0, 250, 1000]) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.draining || this.active.has(threadId)) return;
      try {
        const record = await store.runRecord(threadId);
        if (!record || record.runId !== runId || record.owner !== instanceId) return;
        const claim = await this.reclaim({ threadId, owner: instanceId, token: record.token }, runId);
        if (!claim) return;
        logger.warn({ threadId, runId }, 'the answer to a post was lost; running the run it started');
        await this.runClaims(claim);
        return;
      } catch (error) {
        if (error instanceof StoreError && error.code !== 'unavailable') return;
      }
    }
    // Still unreachable: the lease expires and a sweep recovers the run.
  }

  /** Marks in the lease index when this instance's lease of the thread runs out (best effort). */
  private async markLease(threadId: string): Promise<void> {
    await this.options.store
      .markForSweep(threadId, this.options.leaseMs + LEASE_MARK_MARGIN_MS, 'leases')
      .catch((error: unknown) =>
        this.options.logger.warn({ err: error, threadId }, 'could not mark the lease for the sweep'),
      );
  }

  /** Asks the sweep to look at the thread soon (best effort). */
  private async markDue(threadId: string): Promise<void> {
    await this.options.store
      .markForSweep(threadId, 0)
      .catch((error: unknown) =>
        this.options.logger.warn({ err: error, threadId }, 'could not mark the thread for the sweep'),
      );
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
