// The systems under test, each as two server processes sharing the bench Redis: the producer
// runs on instance A, viewers connect to instance B.
//
// - Chorus: two real instances (createApp, RedisStore) with the bench team. A step posts
//   `bench rate=… count=…` through A; the agent's model produces the tokens on A; viewers are
//   subscribed to the thread on B.
// - Socket.IO 4 + @socket.io/redis-streams-adapter: A emits one `token` event per token to the
//   room; viewers joined the room on B.
// - ws + Redis pub/sub: A PUBLISHes one message per token; B SUBSCRIBEs and forwards.
import { benchRequestText, BENCH_TEAM } from '../bench-model.ts';
import { ManagedChild } from '../lib/children.ts';
import { benchEpoch, waitUntil } from '../lib/clock.ts';
import { ChorusClient } from '../lib/chorus-client.ts';
import type { ProcessStats } from '../lib/ipc.ts';
import type { SystemName } from '../load/viewers.ts';
import type { ChorusServerReady } from '../servers/chorus-server.ts';

export const SYSTEM_LABELS: Record<SystemName, string> = {
  chorus: 'Chorus',
  socketio: 'Socket.IO 4 + redis-streams-adapter',
  'ws-relay': 'ws + Redis pub/sub relay',
};

/**
 * Threads (rooms) of the fan-out scenario: one for the warm-up, moderate and rate-ladder steps, one
 * for the viewer ladder, so that viewers joining a Chorus thread during the viewer ladder do not
 * receive the rate ladder's long messages as backlog.
 */
export const FANOUT_TARGETS = ['fanout-rate', 'fanout-viewers'] as const;

export interface SystemUnderTest {
  readonly name: SystemName;
  /** What viewers connect to (instance B). */
  readonly viewerUrl: string;
  /** The threads / rooms the producer writes to (FANOUT_TARGETS). */
  readonly targets: readonly string[];
  readonly a: ManagedChild;
  readonly b: ManagedChild;
  /** Makes sure the threads / rooms exist (Chorus creates threads; rooms need nothing). */
  prepare(targets: readonly string[]): Promise<void>;
  /** Starts producing `count` tokens at `rate` on instance A; resolves once production is under way. */
  produce(target: string, rate: number, count: number): Promise<void>;
  /** After a step: stops what still runs (abort) and waits until A is idle (bounded). */
  settle(target: string, abort: boolean): Promise<void>;
  stop(): Promise<void>;
}

export interface SystemOptions {
  redisUrl: string;
  prefix: string;
  /** Extra environment for the servers. */
  env?: Record<string, string>;
  execArgv?: string[];
}

/** Settings the bench gives every Chorus instance (other settings are Chorus's defaults). */
export const CHORUS_BENCH_SETTINGS: Record<string, string> = {
  CHORUS_LOG_LEVEL: 'warn',
  // The bench posts once per step from one connection; the default limit (5/s) is for people.
  CHORUS_POST_RATE: '0',
  // Its set-up creates every thread of a scenario from one connection (the default: 2/s).
  CHORUS_CREATE_RATE: '0',
  // A stopped step cancels every thread's run from that connection (the default: 20/s).
  CHORUS_REQUEST_RATE: '0',
};

/**
 * CHORUS_* variables of the bench's own environment, passed on to every Chorus instance (for
 * example `CHORUS_DELTA_WINDOW_MS=0 npm run bench` to measure without delta coalescing); the
 * ones the bench must set itself (port, Redis, prefix, instance id) cannot be overridden.
 */
export function chorusOverrides(): Record<string, string> {
  const fixed = new Set(['CHORUS_REDIS_PREFIX', 'CHORUS_INSTANCE_ID']);
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        entry[0].startsWith('CHORUS_') && !fixed.has(entry[0]) && entry[1] !== undefined,
    ),
  );
}

/** Environment of a bench Chorus instance: like `npm start`, on port 0. */
export function chorusEnvironment(options: {
  redisUrl?: string;
  prefix: string;
  instanceId: string;
}): Record<string, string> {
  return {
    BENCH_EPOCH: String(benchEpoch),
    ...CHORUS_BENCH_SETTINGS,
    ...chorusOverrides(),
    PORT: '0',
    HOST: '127.0.0.1',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    CHORUS_REDIS_PREFIX: options.prefix,
    CHORUS_INSTANCE_ID: options.instanceId,
    NODE_ENV: 'development',
  };
}

export function startChorusServer(
  name: string,
  env: Record<string, string>,
  execArgv: string[] = [],
): ManagedChild<ChorusServerReady> {
  return new ManagedChild<ChorusServerReady>('servers/chorus-server.ts', { name, env, execArgv });
}

export async function startChorus(
  options: SystemOptions,
): Promise<SystemUnderTest & { poster: ChorusClient; portA: number; portB: number }> {
  const a = startChorusServer(
    'chorus-A',
    {
      ...chorusEnvironment({ redisUrl: options.redisUrl, prefix: options.prefix, instanceId: 'bench-A' }),
      ...options.env,
    },
    options.execArgv,
  );
  const b = startChorusServer(
    'chorus-B',
    {
      ...chorusEnvironment({ redisUrl: options.redisUrl, prefix: options.prefix, instanceId: 'bench-B' }),
      ...options.env,
    },
    options.execArgv,
  );
  const [readyA, readyB] = await Promise.all([a.ready, b.ready]);
  if (readyA.store !== 'redis' || readyB.store !== 'redis')
    throw new Error('the Chorus instances did not start on Redis');
  const poster = await ChorusClient.connect(`ws://127.0.0.1:${readyA.port}/ws`, 'bench-producer');
  for (const threadId of FANOUT_TARGETS) {
    await poster.request({ type: 'create-thread', threadId, team: BENCH_TEAM }, 'thread-created');
  }
  let posts = 0;
  const created = new Set<string>(FANOUT_TARGETS);
  return {
    name: 'chorus',
    viewerUrl: `ws://127.0.0.1:${readyB.port}/ws`,
    targets: FANOUT_TARGETS,
    a,
    b,
    poster,
    portA: readyA.port,
    portB: readyB.port,
    async prepare(threadIds) {
      for (const threadId of threadIds) {
        if (created.has(threadId)) continue;
        await poster.request({ type: 'create-thread', threadId, team: BENCH_TEAM }, 'thread-created');
        created.add(threadId);
      }
    },
    async produce(threadId, rate, count) {
      posts += 1;
      await poster.request(
        {
          type: 'post',
          threadId,
          clientMessageId: `step-${posts}`,
          text: benchRequestText({ rate, count, ttftMs: 0 }),
        },
        'posted',
      );
    },
    async settle(threadId, abort) {
      if (abort && (await a.request<number>('active-runs')) > 0) {
        await poster.request({ type: 'cancel', threadId }, 'cancelled').catch((error: unknown) => {
          console.warn(`  cancel failed: ${error instanceof Error ? error.message : String(error)}`);
        });
      }
      const idle = await waitUntil(
        async () =>
          (await a.request<number>('active-runs')) === 0 &&
          (await a.request<boolean>('lease-free', { threadId })),
        abort ? 20_000 : 5_000,
        20,
      );
      if (!idle) throw new Error('Chorus instance A still runs the previous step');
    },
    async stop() {
      poster.close();
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

function peerServer(script: string, name: string, options: SystemOptions): ManagedChild<{ port: number }> {
  return new ManagedChild<{ port: number }>(script, {
    name,
    env: {
      BENCH_EPOCH: String(benchEpoch),
      REDIS_URL: options.redisUrl,
      BENCH_PREFIX: options.prefix,
      ...options.env,
    },
    ...(options.execArgv ? { execArgv: options.execArgv } : {}),
  });
}

export async function startPeer(
  system: 'socketio' | 'ws-relay',
  options: SystemOptions,
): Promise<SystemUnderTest> {
  const script = system === 'socketio' ? 'servers/socketio-server.ts' : 'servers/ws-relay.ts';
  const a = peerServer(script, `${system}-A`, options);
  const b = peerServer(script, `${system}-B`, options);
  const [, readyB] = await Promise.all([a.ready, b.ready]);
  const production = new Map<string, Promise<unknown>>();
  return {
    name: system,
    viewerUrl: system === 'socketio' ? `http://127.0.0.1:${readyB.port}` : `ws://127.0.0.1:${readyB.port}/ws`,
    targets: FANOUT_TARGETS,
    a,
    b,
    async prepare() {},
    async produce(room, rate, count) {
      const running = a.request('produce', { room, rate, count }, Math.ceil((count / rate) * 1000) + 30_000);
      running.catch(() => undefined);
      production.set(room, running);
    },
    async settle(room) {
      await production.get(room);
    },
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

export async function startSystem(system: SystemName, options: SystemOptions): Promise<SystemUnderTest> {
  return system === 'chorus' ? startChorus(options) : startPeer(system, options);
}

export type StatsPair = { a: ProcessStats; b: ProcessStats };
