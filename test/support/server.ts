// Chorus instances for tests, on port 0: in-process (createApp) or as a child process running
// `node src/main.ts` (for signals and exit codes). Configuration comes only from the overrides
// given here, never from the test process's environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig, type Env } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { createStoreFromConfig } from '../../src/store/create-store.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { Store } from '../../src/store/store.ts';
import type { TeamRegistry } from '../../src/teams/team.ts';
import { cleanupPrefix, uniquePrefix } from './redis.ts';

/** Settings of a test server; CHORUS_TEST_CRASH_AT (with NODE_ENV=test) is src/runs/crash-points.ts' hook. */
export type EnvOverrides = Partial<Record<keyof Env | 'CHORUS_TEST_CRASH_AT', string>>;

/** Settings every test server starts with; a fast demo model so that runs take little time. */
const TEST_DEFAULTS: EnvOverrides = {
  PORT: '0',
  HOST: '127.0.0.1',
  CHORUS_DEMO_TOKENS_PER_SECOND: '2000',
};

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>/ws` */
  wsUrl: string;
  port: number;
  app: App;
  /** Shuts the app down (no drain: running messages are interrupted, clients get 1001). */
  close(): Promise<void>;
}

/**
 * The store settings of the run's project: none for the in-memory store, the shared Redis with a
 * key prefix of the test's own when the project runs the gateway stories on Redis. A test that
 * sets REDIS_URL itself keeps its own.
 */
export function projectStoreEnv(overrides: EnvOverrides = {}): EnvOverrides {
  if (overrides.REDIS_URL !== undefined || inject('gatewayStore') !== 'redis') return {};
  return { REDIS_URL: inject('redisUrl'), CHORUS_REDIS_PREFIX: uniquePrefix('gateway') };
}

export interface StartServerOptions {
  /** Wraps the server's store (a fault-injection wrapper, say); the wrapper is what the app uses. */
  wrapStore?: (store: Store) => Store;
  /** Teams other than the built-in demo team. */
  teams?: TeamRegistry;
  /** The store itself (for instances that share an in-memory store in one process). */
  store?: Store;
}

export async function startServer(
  overrides: EnvOverrides = {},
  options: StartServerOptions = {},
): Promise<TestServer> {
  const storeEnv = projectStoreEnv(overrides);
  const config = loadConfig({ ...TEST_DEFAULTS, ...storeEnv, ...overrides });
  const created =
    options.store ??
    (config.redisUrl
      ? await createStoreFromConfig(config, silentLogger)
      : new MemoryStore({ historyMaxLength: config.historyMaxLength }));
  const store = options.wrapStore ? options.wrapStore(created) : created;
  const app = await createApp({ config, store, ...(options.teams ? { teams: options.teams } : {}) });
  const port = await app.start();
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    port,
    app,
    close: async () => {
      await app.shutdown(0);
      if (storeEnv.REDIS_URL && storeEnv.CHORUS_REDIS_PREFIX) {
        await cleanupPrefix(storeEnv.REDIS_URL, storeEnv.CHORUS_REDIS_PREFIX);
      }
    },
  };
}

export interface LogLine {
  msg?: string;
  level?: number;
  [field: string]: unknown;
}

export interface SpawnedServer {
  url: string;
  wsUrl: string;
  port: number;
  process: ChildProcess;
  /** Structured log lines (pino JSON on stdout), in order. */
  readonly logs: LogLine[];
  /** Everything the process wrote that was not a JSON log line (stderr included). */
  readonly output: string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the first log line whose `msg` is `message` (bounded). */
  waitForLog(message: string, timeoutMs?: number): Promise<LogLine>;
}

const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts `node src/main.ts` (the same Node that runs the tests) on port 0 and resolves once it
 * logged "chorus listening" with its port. Its environment is PATH/HOME plus the test defaults
 * and `env`; it runs in the repository unless `options.cwd` names another copy of it.
 */
export async function spawnServer(
  env: EnvOverrides = {},
  timeoutMs = 15_000,
  options: { cwd?: string } = {},
): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: options.cwd ?? repositoryRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...TEST_DEFAULTS,
      ...projectStoreEnv(env),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const output: string[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      exitStatus = { code, signal };
      resolve(exitStatus);
      notify();
    });
  });
  child.on('error', (error) => {
    output.push(`spawn error: ${error.message}`);
    notify();
  });
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        output.push(line);
      }
    }
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output.push(chunk);
    notify();
  });

  const waitForLog = (message: string, limitMs = 5000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const line = logs.find((candidate) => candidate.msg === message);
        if (line) {
          done();
          resolve(line);
        } else if (exitStatus) {
          done();
          reject(
            new Error(
              `the server exited (${JSON.stringify(exitStatus)}) before logging "${message}"; ${tail()}`,
            ),
          );
        }
      };
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${limitMs} ms waiting for the log line "${message}"; ${tail()}`));
      }, limitMs);
      listeners.add(check);
      check();
    });
  const tail = () =>
    `logged: ${logs.map((line) => line.msg).join(' | ') || '(nothing)'}; other output: ${output.join('').slice(-2000) || '(nothing)'}`;

  let listening: LogLine;
  try {
    listening = await waitForLog('chorus listening', timeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = Number(listening.port);
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    port,
    process: child,
    logs,
    output,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (!exitStatus) child.kill(signal);
    },
    waitForLog,
  };
}
