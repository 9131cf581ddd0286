// Redis for the tests: the shared server (URL from global-setup through `inject('redisUrl')`),
// per-test key prefixes and their cleanup, and test-owned servers and clusters for fault tests.
// Test-owned servers are real `redis-server` processes on free ports, killed when stopped (and at
// exit, as a safety net).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const execFileAsync = promisify(execFile);
const START_TIMEOUT_MS = 10_000;

let prefixCounter = 0;

/** A key prefix no other test (in this or another process) uses. */
export function uniquePrefix(label = 'test'): string {
  prefixCounter += 1;
  return `${label}-${process.pid}-${prefixCounter}-${randomBytes(3).toString('hex')}`;
}

/** Deletes every key under `prefix:` (SCAN + UNLINK) and nothing else. */
export async function cleanupPrefix(url: string, prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new Error(`refusing to clean up the unusual prefix ${prefix}`);
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', (error: Error) => console.warn(`cleanupPrefix(${prefix}): ${error.message}`));
  await client.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) removed += await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    await client.quit();
  }
  return removed;
}

/** Whether an executable of that name is on PATH. */
export async function commandOnPath(command: string): Promise<boolean> {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (directory === '') continue;
    try {
      await access(join(directory, command), constants.X_OK);
      return true;
    } catch (error) {
      if (!isErrnoException(error)) throw error;
    }
  }
  return false;
}

/** A TCP port that was free a moment ago (and, with `busPort`, port + 10000 too: Cluster's bus). */
export async function freePort(options: { busPort?: boolean } = {}): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await listenOnce(0);
    if (!options.busPort) return port;
    if (port + 10_000 > 65_535) continue;
    if ((await listenOnce(port + 10_000).catch(() => null)) !== null) return port;
  }
  throw new Error('no free port pair found for a Redis Cluster node');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const chosen = typeof address === 'object' && address !== null ? address.port : port;
      server.close(() => resolve(chosen));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (stopping it first when it runs). */
  restart(): Promise<void>;
  /** FLUSHALL: the server forgets every key. */
  flush(): Promise<void>;
  /** SIGSTOP: the server keeps its connections open but answers nothing (a hung server). */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a test-owned `redis-server` on a free port, without persistence. With `cluster`, the node
 * is started with `--cluster-enabled yes` (join nodes with `startRedisCluster`).
 */
export async function startRedisServer(
  options: { port?: number; cluster?: boolean; /** More redis-server arguments. */ args?: string[] } = {},
): Promise<RedisServer> {
  if (!(await commandOnPath('redis-server'))) {
    throw new Error(
      'redis-server is not on PATH: install Redis (apt-get install redis-server) to run this test',
    );
  }
  const port = options.port ?? (await freePort({ busPort: options.cluster === true }));
  const directory = await mkdtemp(join(tmpdir(), `chorus-redis-${port}-`));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    directory,
  ];
  if (options.cluster) {
    args.push(
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '5000',
    );
  }
  args.push(...(options.args ?? []));
  let child: ChildProcess | null = await spawnRedis(args);

  const stop = async () => {
    const current = child;
    child = null;
    if (current) await terminate(current);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
    async restart() {
      await stop();
      await mkdir(directory, { recursive: true }); // `stop()` removed it
      child = await spawnRedis(args);
    },
    pause() {
      if (!child?.kill('SIGSTOP')) throw new Error(`redis-server ${port} is not running`);
    },
    resume() {
      if (!child?.kill('SIGCONT')) throw new Error(`redis-server ${port} is not running`);
    },
    async flush() {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      client.on('error', (error: Error) => console.warn(`flush of redis ${port}: ${error.message}`));
      try {
        await client.flushall();
      } finally {
        await client.quit();
      }
    },
  };
}

function spawnRedis(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    const timer = setTimeout(() => {
      fail(new Error(`redis-server ${args.join(' ')} not ready after ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/Ready to accept connections/.test(output)) {
        cleanup();
        // Keep draining its output so that the process never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null) =>
      fail(new Error(`redis-server exited (${code}) while starting:\n${output}`));
    const fail = (error: Error) => {
      cleanup();
      running.delete(child);
      child.kill('SIGKILL');
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', fail);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

function terminate(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(child);
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      running.delete(child);
      resolve();
    });
    child.kill('SIGCONT'); // a paused server would not act on SIGTERM
    child.kill('SIGTERM');
  });
}

export interface RedisCluster {
  /** Startup nodes for an ioredis Cluster client. */
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Three test-owned masters (no replicas) joined into a Redis Cluster covering every slot. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const servers = await Promise.all([0, 1, 2].map(() => startRedisServer({ cluster: true })));
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  try {
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await execFileAsync(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      {
        timeout: START_TIMEOUT_MS,
      },
    );
    await Promise.all(servers.map((server) => waitForClusterOk(server.port)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })), stop };
}

/** Polls CLUSTER INFO until the node says cluster_state:ok (redis-cli returns before every node agrees). */
async function waitForClusterOk(port: number): Promise<void> {
  const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  client.on('error', (error: Error) => console.warn(`cluster node ${port}: ${error.message}`));
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      const info = String(await client.call('CLUSTER', 'INFO'));
      if (info.includes('cluster_state:ok')) return;
      if (Date.now() > deadline)
        throw new Error(`cluster node ${port} not ok after ${START_TIMEOUT_MS} ms:\n${info}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await client.quit();
  }
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}
