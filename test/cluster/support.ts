// Multi-instance helpers for the cluster stories: Chorus instances as separate processes on one
// Redis (a unique key prefix each time, cleaned up after), viewers that follow a thread across
// connections and instances, and bounded waits on conditions (HTTP polling, log lines).
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { redisKeys } from '../../src/store/redis-keys.ts';
import { CloseCode } from '../../src/protocol/codes.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { spawnServer, type EnvOverrides, type LogLine, type SpawnedServer } from '../support/server.ts';
import { connect, type Frame, type FrameOf, type TestClient } from '../support/ws-client.ts';
import {
  readHistory,
  threadEvents,
  transcript,
  type ThreadEventFrame,
  type TranscriptEntry,
} from '../gateway/thread-frames.ts';

export const LEASE_MS = 1500;
/** 50 tokens/s: a message streams for 0.8–1.6 s, so a drop, a kill or an outage lands mid-message even on a loaded machine. */
export const SLOW_TOKENS = '50';
/** Bound for one instance to start (module loading is CPU-bound and slow on a loaded machine). */
const SPAWN_TIMEOUT_MS = 30_000;
/** Per-test bound of the stories that spawn instances. */
export const STORY_TIMEOUT_MS = 60_000;

/** Settings of every instance in these stories (each test adds its own). */
const CLUSTER_DEFAULTS: EnvOverrides = {
  CHORUS_LEASE_MS: String(LEASE_MS),
  // Shutdown at the end of a test does not wait for running messages.
  CHORUS_DRAIN_MS: '0',
  CHORUS_DEMO_TOKENS_PER_SECOND: '200',
  CHORUS_LOG_LEVEL: 'info',
};

/** Chorus processes still running, SIGKILLed if the test process exits first. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export interface Instance {
  /** 'A', 'B', 'C' … */
  name: string;
  /** Its CHORUS_INSTANCE_ID (the owner written in a lease, `welcome.instanceId`). */
  instanceId: string;
  server: SpawnedServer;
  url: string;
  wsUrl: string;
}

export interface ChorusClusterOptions {
  redisUrl: string;
  /** One instance per name. @default ['A', 'B'] */
  names?: readonly string[];
  env?: EnvOverrides;
  /** Settings of single instances, by name (over `env`): a crash point, say. */
  envOf?: Readonly<Record<string, EnvOverrides>>;
  /**
   * Delete the keys of the prefix when stopping (on the shared Redis). A test-owned Redis is
   * stopped by its test instead. @default true
   */
  cleanup?: boolean;
}

/** Several `node src/main.ts` processes sharing one Redis under a prefix of their own. */
export class ChorusCluster {
  readonly prefix: string;
  readonly redisUrl: string;
  readonly instances: Instance[];
  private readonly clients = new Set<TestClient>();
  private readonly cleanup: boolean;

  private constructor(options: ChorusClusterOptions, prefix: string, instances: Instance[]) {
    this.redisUrl = options.redisUrl;
    this.prefix = prefix;
    this.instances = instances;
    this.cleanup = options.cleanup ?? true;
  }

  static async start(options: ChorusClusterOptions): Promise<ChorusCluster> {
    const prefix = uniquePrefix('cluster');
    const names = options.names ?? ['A', 'B'];
    const started = await Promise.allSettled(
      names.map(async (name): Promise<Instance> => {
        const instanceId = `chorus-${name.toLowerCase()}-${prefix}`;
        const server = await spawnServer(
          {
            ...CLUSTER_DEFAULTS,
            ...options.env,
            ...options.envOf?.[name],
            REDIS_URL: options.redisUrl,
            CHORUS_REDIS_PREFIX: prefix,
            CHORUS_INSTANCE_ID: instanceId,
          },
          SPAWN_TIMEOUT_MS,
        );
        children.add(server.process);
        void server.exited.then(() => children.delete(server.process));
        return { name, instanceId, server, url: server.url, wsUrl: server.wsUrl };
      }),
    );
    const instances = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const cluster = new ChorusCluster(options, prefix, instances);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) {
      await cluster.stop();
      throw failure.reason;
    }
    return cluster;
  }

  /** The instances whose process still runs. */
  alive(): Instance[] {
    return this.instances.filter((instance) => isRunning(instance.server));
  }

  /** Connects a client (handshake done) to `instance`; closed by `stop`. */
  async connect(instance: Instance, user: string): Promise<TestClient> {
    const client = await connect(instance.wsUrl, { hello: { user } });
    this.track(client);
    return client;
  }

  /** Closes `client` with the cluster. */
  track(client: TestClient): void {
    this.clients.add(client);
  }

  /** SIGKILLs the instance (no drain, no goodbye) and waits for the process to end. */
  async kill(instance: Instance): Promise<void> {
    instance.server.kill('SIGKILL');
    await within(instance.server.exited, 5000, `instance ${instance.name} to exit after SIGKILL`);
  }

  /** SIGSTOPs the instance: its process keeps its sockets open and does nothing (a stall). */
  pause(instance: Instance): void {
    if (!isRunning(instance.server)) throw new Error(`instance ${instance.name} is not running`);
    instance.server.process.kill('SIGSTOP');
  }

  /** SIGCONT after `pause`. */
  resume(instance: Instance): void {
    if (isRunning(instance.server)) instance.server.process.kill('SIGCONT');
  }

  /** Waits (bounded) for the instance to end by itself; answers how (a crash point ends it with SIGKILL). */
  async exited(
    instance: Instance,
    timeoutMs: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return within(instance.server.exited, timeoutMs, `instance ${instance.name} to exit`);
  }

  /**
   * The instance that started the thread's run `runId` (its "run started" log line), waiting for
   * that line (bounded).
   */
  async runner(threadId: string, runId: string, timeoutMs = 5000): Promise<Instance> {
    return poll(`the "run started" log line of run ${runId}`, timeoutMs, () =>
      this.instances.find((instance) =>
        instance.server.logs.some((line) => isRunStarted(line, threadId) && line.runId === runId),
      ),
    );
  }

  /** Clients, then instances (SIGTERM with CHORUS_DRAIN_MS=0, SIGKILL after 5 s), then the prefix's keys. */
  async stop(): Promise<void> {
    await Promise.all([...this.clients].map((client) => client.terminate()));
    this.clients.clear();
    await Promise.all(
      this.instances.map(async (instance) => {
        if (!isRunning(instance.server)) return;
        instance.server.process.kill('SIGCONT'); // a paused instance would not act on SIGTERM
        instance.server.kill('SIGTERM');
        const timer = setTimeout(() => instance.server.kill('SIGKILL'), 5000);
        await instance.server.exited;
        clearTimeout(timer);
      }),
    );
    if (this.cleanup) await cleanupPrefix(this.redisUrl, this.prefix);
  }

  /** Log lines of every instance at warn level and above, for failure messages. */
  problems(): string {
    return this.instances
      .flatMap((instance) => {
        const { process: child, port, output } = instance.server;
        const state = isRunning(instance.server)
          ? 'running'
          : `exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`;
        return [
          `${instance.name} on port ${port}: ${state}`,
          ...instance.server.logs
            .filter((line) => (line.level ?? 0) >= 40 && !String(line.msg).startsWith('DEVELOPMENT MODE'))
            .map((line) => `${instance.name}: ${line.msg ?? ''} ${JSON.stringify(line.err ?? '')}`),
          // What it wrote that was not a log line (a crash's stack trace, say): the end of it.
          ...output.slice(-20).map((text) => `${instance.name} output: ${text.trimEnd()}`),
        ];
      })
      .join('\n');
  }
}

/** A small seeded PRNG (mulberry32), so that a failing chaos run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function isRunning(server: SpawnedServer): boolean {
  return server.process.exitCode === null && server.process.signalCode === null;
}

function isRunStarted(line: LogLine, threadId: string): boolean {
  return line.msg === 'run started' && line.threadId === threadId;
}

// --- bounded waits -----------------------------------------------------------------------------

/** `promise`, or a failure naming `what` after `timeoutMs`. */
function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * Evaluates `check` every `intervalMs` until it gives a value (not undefined), failing after
 * `timeoutMs` with `description` (or as soon as `check` throws).
 */
export async function poll<T>(
  description: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The HTTP status of `GET url` (1 s bound), or 0 when the instance does not answer. */
export async function httpStatus(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    if (error instanceof Error) return 0;
    throw error;
  }
}

/** Polls `/readyz` until it answers `status` (bounded). */
export async function waitForReadiness(
  instance: Instance,
  status: 200 | 503,
  timeoutMs: number,
): Promise<void> {
  await poll(`/readyz of ${instance.name} to answer ${status}`, timeoutMs, async () =>
    (await httpStatus(`${instance.url}/readyz`)) === status ? true : undefined,
  );
}

// --- viewers across connections -----------------------------------------------------------------

/** A close code after which a client reconnects and resumes (protocol.md's close-code table). */
export function reconnectAdvised(code: number): boolean {
  return code === 1001 || code === 1006 || code === 1011 || (code >= 4000 && code < 4500);
}

export interface ViewerSegment {
  instance: Instance;
  client: TestClient;
  subscribed: FrameOf<'subscribed'>;
  /** The cursor it resumed from (none: a first subscription, or nothing had been seen yet). */
  cursor: string | undefined;
  /** The run it named as seen active before (`subscribe.runId`). */
  runId: string | undefined;
}

/**
 * One person watching a thread through successive connections (to any instance): each resumes
 * with the last cursor seen. `transcript()` is the stored messages as this person saw them across
 * connections — restarted from the backlog when a resume said `recovered: false`.
 */
export class Viewer {
  readonly segments: ViewerSegment[] = [];
  /** Close codes of connections the server (or a dead instance) closed. */
  readonly closes: number[] = [];
  readonly name: string;
  private readonly cluster: ChorusCluster;
  private readonly threadId: string;
  private autoResume: (() => Instance) | null = null;
  private resuming: Promise<void> | null = null;
  private resumeError: unknown = null;
  private dropping = false;

  constructor(cluster: ChorusCluster, name: string, threadId: string) {
    this.cluster = cluster;
    this.name = name;
    this.threadId = threadId;
  }

  get client(): TestClient {
    const segment = this.segments.at(-1);
    if (!segment) throw new Error(`${this.name} never subscribed`);
    return segment.client;
  }

  /** The cursor of the last stored message seen (undefined before any). */
  get cursor(): string | undefined {
    return this.transcript().at(-1)?.cursor;
  }

  /**
   * Connects to `instance` and subscribes (with the last cursor when there is one). A store
   * outage (`unavailable`) or an instance that is not ready is waited out, up to `timeoutMs`.
   */
  async open(instance: Instance, timeoutMs = 10_000): Promise<FrameOf<'subscribed'>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const cursor = this.cursor;
      const runId = this.activeRunId();
      const client = await connect(instance.wsUrl, { hello: { user: this.name } });
      this.cluster.track(client);
      let answer: Awaited<ReturnType<TestClient['request']>>;
      try {
        answer = await client.request({
          type: 'subscribe',
          threadId: this.threadId,
          ...(cursor ? { cursor } : {}),
          ...(runId ? { runId } : {}),
        });
      } catch (error) {
        // Closed with 4011 before the answer (the instance's Redis subscription broke as it joined,
        // a Redis restart): resume again, as the code says — a client does.
        if (client.closeStatus?.code !== CloseCode.liveGap || Date.now() >= deadline) throw error;
        continue;
      }
      if (answer.type === 'subscribed') {
        this.segments.push({ instance, client, subscribed: answer, cursor, runId });
        void client.closed.then((info) => this.clientOnClose(client, info.code));
        return answer;
      }
      await client.close();
      if (answer.type !== 'error' || answer.code !== 'unavailable' || Date.now() >= deadline) {
        throw new Error(`${this.name} could not subscribe on ${instance.name}: ${JSON.stringify(answer)}`);
      }
      expect(answer.retryable).toBe(true);
      await waitForReadiness(instance, 200, Math.max(0, deadline - Date.now()));
    }
  }

  /** Drops the connection (no closing handshake, as a network failure), without resuming. */
  async drop(): Promise<void> {
    // After a resume under way, so that the two never race; no I/O runs between the two lines.
    await this.settled();
    this.dropping = true;
    try {
      await this.client.terminate();
    } finally {
      this.dropping = false;
    }
  }

  /** Drops the connection, then resumes with the last cursor on `pick()`. */
  async dropAndResume(pick: () => Instance): Promise<FrameOf<'subscribed'>> {
    await this.drop();
    return this.openOnSomeInstance(pick);
  }

  /**
   * From now on, a connection closed by the server or lost with its instance is resumed at once
   * on `pick()` (waiting out outages).
   */
  resumeAutomatically(pick: () => Instance): void {
    this.autoResume = pick;
  }

  /** Resolves when no automatic resume is under way; fails when one failed. */
  async settled(): Promise<void> {
    while (this.resuming) await this.resuming;
    if (this.resumeError) throw this.resumeError;
  }

  /**
   * The run active as this viewer last knew it: started and not ended on the last connection, else
   * the one that connection's subscribe named, unless it was told ended.
   */
  activeRunId(): string | undefined {
    const segment = this.segments.at(-1);
    if (!segment) return undefined;
    let active = segment.runId;
    if (segment.subscribed.runEnd?.runId === active || segment.subscribed.lastRunEnd?.runId === active)
      active = undefined;
    for (const event of threadEvents(this.framesOf(segment), this.threadId)) {
      if (event.type === 'run-start') active = event.runId;
      else if (event.type === 'run-end' && event.runId === active) active = undefined;
    }
    return active;
  }

  /** Every thread event received, over every connection. */
  events(): ThreadEventFrame[] {
    return this.segmentEvents().flat();
  }

  /** The thread events received on each connection (a resume starts with the current run's start again). */
  segmentEvents(): ThreadEventFrame[][] {
    return this.segments.map((segment) => threadEvents(this.framesOf(segment), this.threadId));
  }

  /** The stored messages as seen, in order, across connections. */
  transcript(): TranscriptEntry[] {
    let entries: TranscriptEntry[] = [];
    for (const segment of this.segments) {
      if (!segment.subscribed.recovered) entries = [];
      entries = entries.concat(transcript(this.framesOf(segment), this.threadId));
    }
    return entries;
  }

  /** Waits until the transcript holds a message with this cursor (any connection, bounded). */
  async waitForCursor(cursor: string, timeoutMs: number): Promise<void> {
    await poll(`${this.name} to see the message at ${cursor}`, timeoutMs, () => {
      if (this.resumeError) throw this.resumeError;
      return this.transcript().some((entry) => entry.cursor === cursor) ? true : undefined;
    });
  }

  /** The first thread event (over every connection) of `type` that matches `predicate` (bounded). */
  async waitForEvent<T extends ThreadEventFrame['type']>(
    type: T,
    predicate: (event: Extract<ThreadEventFrame, { type: T }>) => boolean,
    timeoutMs: number,
    description: string = type,
  ): Promise<Extract<ThreadEventFrame, { type: T }>> {
    return poll(`${this.name} to receive ${description}`, timeoutMs, () => {
      if (this.resumeError) throw this.resumeError;
      return this.events().find(
        (event): event is Extract<ThreadEventFrame, { type: T }> =>
          event.type === type && predicate(event as Extract<ThreadEventFrame, { type: T }>),
      );
    });
  }

  /** Waits until, on the current connection, every run that started has ended (bounded). */
  async waitForRunsEnded(timeoutMs: number): Promise<void> {
    await poll(`${this.name} to see the end of every run`, timeoutMs, () => {
      if (this.resumeError) throw this.resumeError;
      let open = false;
      for (const event of this.segmentEvents().at(-1) ?? []) {
        if (event.type === 'run-start') open = true;
        else if (event.type === 'run-end') open = false;
      }
      return open ? undefined : true;
    });
  }

  /** The stored message `messageId` once this viewer has it (live, or in a resume's backlog; bounded). */
  async waitForMessage(messageId: string, timeoutMs: number): Promise<TranscriptEntry> {
    return poll(`${this.name} to receive message ${messageId}`, timeoutMs, () => {
      if (this.resumeError) throw this.resumeError;
      return this.transcript().find((entry) => entry.id === messageId);
    });
  }

  /** Frames of a segment from its `subscribed` on. */
  private framesOf(segment: ViewerSegment): Frame[] {
    const frames = segment.client.frames;
    return frames.slice(frames.indexOf(segment.subscribed));
  }

  private clientOnClose(client: TestClient, code: number): void {
    if (this.dropping || client !== this.segments.at(-1)?.client) return;
    this.closes.push(code);
    const pick = this.autoResume;
    if (!pick || !reconnectAdvised(code)) return;
    const resuming = this.openOnSomeInstance(pick)
      .then(() => undefined)
      .catch((error: unknown) => {
        this.resumeError = error;
      })
      .finally(() => {
        if (this.resuming === resuming) this.resuming = null;
      });
    this.resuming = resuming;
  }

  /**
   * Opens on `pick()`, picking again when that instance turns out dead (its process ended, or it
   * refuses connections until it has); fails after 20 s.
   */
  async openOnSomeInstance(pick: () => Instance): Promise<FrameOf<'subscribed'>> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const instance = pick();
      try {
        return await this.open(instance, Math.max(1000, deadline - Date.now()));
      } catch (error) {
        if (Date.now() >= deadline) throw error;
        // Killed meanwhile? Then its process is about to be reported dead: pick again after that.
        // Neither within 5 s (stalled, say): pick again too.
        const dead = await poll(`${instance.name} to be known dead or ready`, 5000, async () => {
          if (!isRunning(instance.server)) return true;
          return (await httpStatus(`${instance.url}/readyz`)) === 200 ? false : undefined;
        }).catch(() => true);
        if (!dead) throw error;
      }
    }
  }
}

/**
 * Waits until nothing more will happen on the thread: no run lease held, no post queued, no run
 * in the live stream (read from the cluster's own keys). Then history holds still.
 */
export async function waitForQuiescence(
  cluster: ChorusCluster,
  threadId: string,
  timeoutMs: number,
): Promise<void> {
  const keys = redisKeys(cluster.prefix).thread(threadId);
  const client = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
  client.on('error', (error: Error) => console.warn(`quiescence check: ${error.message}`));
  try {
    await poll(
      `thread ${threadId} to be quiet (no lease, queue, live run or run record)`,
      timeoutMs,
      async () => {
        // (The queue is a sorted set: LLEN would fail with WRONGTYPE whenever a post waits.)
        const [lease, queued, live, run] = await Promise.all([
          client.get(keys.lease),
          client.zcard(keys.queue),
          client.xlen(keys.live),
          client.exists(keys.run),
        ]);
        return lease === null && queued === 0 && live === 0 && run === 0 ? true : undefined;
      },
    );
  } finally {
    await client.quit();
  }
}

/** The thread's stored history as an instance serves it (`history` pages). */
export async function storedHistory(
  cluster: ChorusCluster,
  instance: Instance,
  threadId: string,
): Promise<TranscriptEntry[]> {
  const client = await cluster.connect(instance, 'auditor');
  try {
    return await readHistory(client, threadId);
  } finally {
    await client.close();
  }
}

/**
 * Run boundaries as seen in `events` (one connection's): every run-start is followed by its run-end
 * before the next run-start (one run per thread, cluster-wide); with `ended`, the last run has
 * ended too. Returns the run ids in order. Before the connection's first run-start, a run that ended
 * while it joined may be announced by its run-end alone (protocol.md, "Cursors, subscribe and resume").
 */
export function expectRunsInSequence(
  events: readonly ThreadEventFrame[],
  who: string,
  options: { ended?: boolean } = {},
): string[] {
  const runs: string[] = [];
  let open: string | null = null;
  for (const event of events) {
    if (event.type === 'run-start') {
      expect(open, `${who}: run-start of ${event.runId} while run ${open} had not ended`).toBeNull();
      open = event.runId;
      runs.push(event.runId);
    } else if (event.type === 'run-end') {
      if (open === null && runs.length === 0) continue; // a run that ended as the connection joined
      expect(event.runId, `${who}: run-end of a run that is not the open one`).toBe(open);
      open = null;
    }
  }
  if (options.ended) expect(open, `${who}: run ${open} never ended`).toBeNull();
  return runs;
}

/** Asserts that a viewer's transcript is the stored history: nothing lost, doubled or reordered. */
export function expectTranscriptEqualsHistory(
  who: string,
  seen: readonly TranscriptEntry[],
  history: readonly TranscriptEntry[],
): void {
  const ids = seen.map((entry) => entry.id);
  const doubled = ids.filter((id, index) => ids.indexOf(id) !== index);
  expect(doubled, `${who}: messages received twice`).toEqual([]);
  const missing = history.filter((entry) => !ids.includes(entry.id)).map((entry) => entry.id);
  expect(missing, `${who}: stored messages never received`).toEqual([]);
  expect(seen, `${who}: transcript vs history`).toEqual(history);
}

// --- posts retried until answered, and the exactly-once audit ----------------------------------

/**
 * A participant who posts as a client should: each post is retried with the same
 * `clientMessageId` until it is answered `posted` — on another instance (`pick()`) when the
 * connection is lost or the answer does not come, after a short backoff when the answer is a
 * retryable error. Fails on a non-retryable answer or after `timeoutMs`.
 */
export class Poster {
  /** clientMessageId → the `posted` answer (the last one, when retried). */
  readonly answers = new Map<string, FrameOf<'posted'>>();
  /** Post requests sent beyond the first of each post. */
  retries = 0;
  private readonly cluster: ChorusCluster;
  private readonly threadId: string;
  private readonly name: string;
  private readonly pick: () => Instance;
  private client: TestClient | null = null;

  constructor(cluster: ChorusCluster, name: string, threadId: string, pick: () => Instance) {
    this.cluster = cluster;
    this.name = name;
    this.threadId = threadId;
    this.pick = pick;
  }

  async post(text: string, clientMessageId: string, timeoutMs = 30_000): Promise<FrameOf<'posted'>> {
    const deadline = Date.now() + timeoutMs;
    let lastProblem = 'no attempt';
    for (let attempt = 0; Date.now() < deadline; attempt += 1) {
      if (attempt > 0) {
        this.retries += 1;
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, 50 * attempt)));
      }
      try {
        if (!this.client?.isOpen) this.client = await this.cluster.connect(this.pick(), this.name);
        const answer = await this.client.request(
          { type: 'post', threadId: this.threadId, clientMessageId, text },
          { timeoutMs: 5000 },
        );
        if (answer.type === 'posted') {
          this.answers.set(clientMessageId, answer);
          return answer;
        }
        if (answer.type !== 'error' || !answer.retryable)
          throw new PostRefused(`post "${text}" refused: ${JSON.stringify(answer)}`);
        lastProblem = JSON.stringify(answer);
        // An instance that cannot take posts now (draining, its store unreachable): try another.
        if (answer.code === 'unavailable') await this.abandon();
      } catch (error) {
        if (error instanceof PostRefused) throw error;
        lastProblem = error instanceof Error ? error.message.slice(0, 300) : String(error);
        await this.abandon();
      }
    }
    throw new Error(`post "${text}" (${clientMessageId}) not answered in ${timeoutMs} ms: ${lastProblem}`);
  }

  /** Closes the participant's connection (without waiting for a dead instance). */
  async close(): Promise<void> {
    await this.abandon();
  }

  private async abandon(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.terminate(1000).catch(() => undefined);
  }
}

class PostRefused extends Error {}

export interface RunSeen {
  runId: string;
  /** `run-start.posts`: the user messages the run answers. */
  posts: readonly string[];
  /** Its `run-end` reason, once some viewer saw it. */
  endReason?: string;
}

/**
 * Every run some viewer saw (by run id), with its posts and end. A run that ended while a viewer
 * was away is told by its next `subscribed.runEnd` or `lastRunEnd` (a failover's recovery during a Redis
 * restart publishes its run-end while every viewer is resubscribing).
 */
export function runsSeen(viewers: readonly Viewer[]): Map<string, RunSeen> {
  const starts = new Map<string, readonly string[]>();
  const ends = new Map<string, string>();
  for (const viewer of viewers) {
    const told = viewer.segments.flatMap((segment) =>
      [segment.subscribed.runEnd, segment.subscribed.lastRunEnd].flatMap((end) => (end ? [end] : [])),
    );
    for (const event of [...told, ...viewer.events()]) {
      if (event.type === 'run-start') {
        const posts = event.posts ?? [];
        const known = starts.get(event.runId);
        if (known && known.join(',') !== posts.join(','))
          throw new Error(`run ${event.runId} started twice with other posts`);
        starts.set(event.runId, posts);
      } else if (event.type === 'run-end') {
        ends.set(event.runId, event.reason);
      }
    }
  }
  const runs = new Map<string, RunSeen>();
  for (const runId of new Set([...starts.keys(), ...ends.keys()])) {
    const endReason = ends.get(runId);
    runs.set(runId, { runId, posts: starts.get(runId) ?? [], ...(endReason ? { endReason } : {}) });
  }
  return runs;
}

/** The exactly-once promise, counted (every list empty when it holds). */
export interface PostAudit {
  /** Answered `posted` but not in history. */
  lost: string[];
  /** Stored more than once (the same text twice, or a user message no answer named). */
  duplicated: string[];
  /** In history, but no run that lists it in `run-start.posts` reached its `run-end`. */
  unanswered: string[];
  /** Listed by more than one run. */
  doublyAnswered: string[];
}

/** Checks every answered post (`posted`, by text) against the stored history and the runs seen. */
export function auditPosts(
  answers: Iterable<{ text: string; posted: FrameOf<'posted'> }>,
  history: readonly TranscriptEntry[],
  runs: ReadonlyMap<string, RunSeen>,
): PostAudit {
  const users = history.filter((entry) => entry.role === 'user');
  const audit: PostAudit = { lost: [], duplicated: [], unanswered: [], doublyAnswered: [] };
  const answeredIds = new Set<string>();
  for (const { text, posted } of answers) {
    answeredIds.add(posted.messageId);
    if (!users.some((entry) => entry.id === posted.messageId)) audit.lost.push(posted.messageId);
    if (users.filter((entry) => entry.text === text).length > 1) audit.duplicated.push(posted.messageId);
  }
  for (const entry of users) {
    if (!answeredIds.has(entry.id)) audit.duplicated.push(entry.id);
    const listing = [...runs.values()].filter((run) => run.posts.includes(entry.id));
    if (listing.length > 1) audit.doublyAnswered.push(entry.id);
    if (!listing.some((run) => run.endReason !== undefined)) audit.unanswered.push(entry.id);
  }
  return audit;
}

/** A viewer's transcript against history: messages never seen, seen twice, or seen out of order. */
export function auditTranscript(
  seen: readonly TranscriptEntry[],
  history: readonly TranscriptEntry[],
): { missing: number; doubled: number; reordered: number } {
  const ids = seen.map((entry) => entry.id);
  const historyIds = history.map((entry) => entry.id);
  const doubled = ids.filter((id, index) => ids.indexOf(id) !== index).length;
  const missing = historyIds.filter((id) => !ids.includes(id)).length;
  const once = ids.filter((id, index) => ids.indexOf(id) === index && historyIds.includes(id));
  const expected = historyIds.filter((id) => once.includes(id));
  const reordered = once.filter((id, index) => expected[index] !== id).length;
  return { missing, doubled, reordered };
}
