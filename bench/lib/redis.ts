// Redis for the bench: by default a redis-server of its own on a free loopback port (no
// persistence), so that other work on the machine's shared Redis neither disturbs the figures nor
// is disturbed; or an existing server (--redis-url) where every key the bench makes carries its
// unique prefix and is deleted afterwards.
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { ManagedChild } from './children.ts';
import { waitUntil } from './clock.ts';

export interface BenchRedis {
  url: string;
  /** The server's version, for the report. */
  version: string;
  /** Deletes what a system left behind (everything on an own server; the prefix on a shared one). */
  reset(prefix: string): Promise<void>;
  /** Redis CPU seconds so far (user + sys), to attribute load. */
  cpuSeconds(): Promise<number>;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchRedis(externalUrl: string | undefined): Promise<BenchRedis> {
  let server: ManagedChild | undefined;
  let url = externalUrl;
  if (!url) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    args.push('--protected-mode', 'no', '--loglevel', 'warning');
    server = new ManagedChild('servers/redis-guard.ts', {
      name: 'redis-server',
      env: { BENCH_REDIS_ARGS: JSON.stringify(args) },
    });
    await server.ready;
    url = `redis://127.0.0.1:${port}`;
  }
  let closing = false;
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectionName: 'chorus-bench',
  });
  client.on('error', (error: Error) => {
    if (!closing) console.warn(`  bench redis client: ${error.message}`);
  });
  const connected = await waitUntil(
    async () => {
      if (server?.exitStatus) return false;
      try {
        if (client.status !== 'ready') await client.connect();
        return (await client.ping()) === 'PONG';
      } catch (error) {
        if (!(error instanceof Error)) throw error;
        client.disconnect();
        return false;
      }
    },
    10_000,
    100,
  );
  if (!connected) {
    await server?.stop();
    throw new Error(`Redis at ${url} did not answer within 10 s${server ? `:\n${server.tail()}` : ''}`);
  }
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    url,
    version,
    async reset(prefix: string) {
      if (server) {
        await client.flushall();
        return;
      }
      let cursor = '0';
      for (let round = 0; round < 100_000; round += 1) {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
        if (cursor === '0') return;
      }
      throw new Error(`could not clean up the prefix ${prefix}: too many keys`);
    },
    async cpuSeconds() {
      const cpu = await client.info('cpu');
      const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0);
      const system = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
      return user + system;
    },
    async close() {
      closing = true;
      client.disconnect();
      await server?.stop();
    },
  };
}
