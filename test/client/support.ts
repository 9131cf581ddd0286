// Helpers for the SDK stories: deployments behind a TCP proxy (one in-memory instance that can be
// restarted on its store and port; or two instances on Redis that a client fails over between),
// bounded waits on SDK events, and a record of each message's `text` events.
import { expect } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { ChorusClient, type ChorusClientOptions } from '../../src/client/index.ts';
import type { ChorusThread } from '../../src/client/thread.ts';
import { loadConfig } from '../../src/config.ts';
import type { Message } from '../../src/protocol/frames.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { Store } from '../../src/store/store.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import type { EnvOverrides } from '../support/server.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

/** 100 tokens/s: a demo message streams for about half a second, so faults land mid-message. */
export const STORY_ENV: EnvOverrides = {
  PORT: '0',
  HOST: '127.0.0.1',
  CHORUS_DEMO_TOKENS_PER_SECOND: '100',
  CHORUS_LEASE_MS: '1500',
  CHORUS_DRAIN_MS: '0',
};

/** Client settings of the stories: quick reconnects and a liveness deadline of about 2 s. */
export const FAST_CLIENT: Omit<ChorusClientOptions, 'url'> = {
  reconnect: { baseMs: 50, maxMs: 300 },
  pingIntervalMs: 1000,
  pingTimeoutMs: 1000,
  requestTimeoutMs: 5000,
};

export interface Instance {
  app: App;
  port: number;
  wsUrl: string;
  close(): Promise<void>;
}

async function startInstance(env: EnvOverrides, store?: Store): Promise<Instance> {
  const app = await createApp({ config: loadConfig({ ...STORY_ENV, ...env }), ...(store ? { store } : {}) });
  const port = await app.start();
  let closing: Promise<void> | undefined;
  return { app, port, wsUrl: `ws://127.0.0.1:${port}/ws`, close: () => (closing ??= app.shutdown(0)) };
}

export interface Deployment {
  readonly label: string;
  /** The watched clients connect through it (to the primary instance, after a failover to the other). */
  readonly proxy: TcpProxy;
  /** Where the poster connects directly (not through the proxy): the instance that runs the agents. */
  posterUrl(): string;
  /** New connections through the proxy go to the instance that stays up. */
  failover(): void;
  /**
   * The primary instance shuts down (clients get 1001) and clients end up on one that serves the
   * same threads: the same instance restarted on its port and store (memory), or the other (Redis).
   */
  closePrimary(): Promise<void>;
  /** The thread's stored messages, oldest first. */
  history(threadId: string): Promise<Message[]>;
  close(): Promise<void>;
}

/** One instance on a MemoryStore (restartable on the same store and port), behind the proxy. */
export async function memoryDeployment(env: EnvOverrides = {}): Promise<Deployment> {
  const store = new MemoryStore({ historyMaxLength: Number(env.CHORUS_HISTORY_MAXLEN ?? '0') });
  let instance = await startInstance(env, store);
  const proxy = await TcpProxy.start(instance.port);
  return {
    label: 'memory',
    proxy,
    posterUrl: () => instance.wsUrl,
    failover: () => undefined,
    async closePrimary() {
      const port = instance.port;
      await instance.close();
      instance = await startInstance({ ...env, PORT: String(port) }, store);
    },
    history: (threadId) => readAll(store, threadId),
    async close() {
      await proxy.close();
      await instance.close();
    },
  };
}

/** Two instances A and B on one Redis (a prefix of their own); the proxy leads to A, the poster to B. */
export async function redisDeployment(redisUrl: string, env: EnvOverrides = {}): Promise<Deployment> {
  const prefix = uniquePrefix('client');
  const shared = { ...env, REDIS_URL: redisUrl, CHORUS_REDIS_PREFIX: prefix };
  const [primary, secondary] = await Promise.all([
    startInstance({ ...shared, CHORUS_INSTANCE_ID: `a-${prefix}` }),
    startInstance({ ...shared, CHORUS_INSTANCE_ID: `b-${prefix}` }),
  ]);
  const proxy = await TcpProxy.start(primary.port);
  return {
    label: 'redis',
    proxy,
    posterUrl: () => secondary.wsUrl,
    failover: () => proxy.target(secondary.port),
    async closePrimary() {
      proxy.target(secondary.port);
      await primary.close();
    },
    history: (threadId) => readAll(secondary.app.store, threadId),
    async close() {
      await proxy.close();
      await Promise.all([primary.close(), secondary.close()]);
      await cleanupPrefix(redisUrl, prefix);
    },
  };
}

async function readAll(store: Store, threadId: string): Promise<Message[]> {
  const page = await store.readBefore(threadId, undefined, 10_000);
  return page.items.map((item) => item.message);
}

// --- waiting on SDK events ---------------------------------------------------------------------

interface Observable {
  on(event: 'change' | 'state', listener: () => void): () => void;
}

/**
 * Resolves once `condition` holds, checked now and after every `change`/`state` event of
 * `sources`; fails after `timeoutMs` with `description` and `detail()`.
 */
export function until(
  sources: readonly (ChorusThread | ChorusClient)[],
  description: string,
  condition: () => boolean,
  options: { timeoutMs?: number; detail?: () => string } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const removers: (() => void)[] = [];
    const done = () => {
      clearTimeout(timer);
      for (const remove of removers) remove();
    };
    const check = () => {
      if (!condition()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${description}${options.detail ? `; ${options.detail()}` : ''}`,
        ),
      );
    }, timeoutMs);
    for (const source of sources) {
      const observable = source as unknown as Observable;
      removers.push(observable.on(source instanceof ChorusClient ? 'state' : 'change', check));
    }
    check();
  });
}

/** Every `text` event of a thread, per message: what a printing program would have printed. */
export class TextLog {
  readonly texts = new Map<string, string>();
  readonly starts = new Map<string, number>();
  readonly ends = new Map<string, number>();

  constructor(thread: ChorusThread) {
    thread.on('text', ({ item, text, start, end }) => {
      const id = item.id ?? item.key;
      this.texts.set(id, (this.texts.get(id) ?? '') + text);
      if (start) this.starts.set(id, (this.starts.get(id) ?? 0) + 1);
      if (end) this.ends.set(id, (this.ends.get(id) ?? 0) + 1);
    });
  }

  /** Each message of `messages` was shown once, whole: one start, one end, its exact text. */
  expectShownOnce(messages: readonly Message[]): void {
    for (const message of messages) {
      expect(this.texts.get(message.id), `text shown of ${message.author}'s message ${message.id}`).toBe(
        message.text,
      );
      expect(this.starts.get(message.id), `starts of ${message.id}`).toBe(1);
      expect(this.ends.get(message.id), `ends of ${message.id}`).toBe(1);
    }
  }
}

/** The view's stored messages equal the history: same ids, same order, nothing twice, nothing in flight. */
export async function expectViewEqualsHistory(
  thread: ChorusThread,
  deployment: Deployment,
): Promise<Message[]> {
  const history = await deployment.history(thread.threadId);
  const ids = () => thread.messages.map((item) => item.id).join(',');
  await until(
    [thread],
    'the view to equal the stored history',
    () => ids() === history.map((message) => message.id).join(',') && thread.streaming.length === 0,
    {
      detail: () =>
        `view ${ids()} (${thread.streaming.length} streaming, status ${thread.status}); history ${history.map((message) => message.id).join(',')}`,
    },
  );
  expect(thread.messages.map((item) => item.message)).toEqual(history);
  return history;
}
