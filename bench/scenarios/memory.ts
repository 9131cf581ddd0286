// Scenario 3: memory per idle subscribed connection. One server process (started with
// --expose-gc), `threads` threads (rooms), a warm-up batch of connections first (so that one-time
// costs — JIT, buffer pools, the per-thread subscription — are in the baseline), then N more idle
// connections, each subscribed to one thread (round-robin). The figure is the growth after a full
// GC divided by N: RSS (what the operating system sees) and JS heap + external memory. The GC is
// V8's memory-reducing one, which also returns the heap headroom that the burst of connects grew
// (V8 does the same by itself once the process idles); RSS after an ordinary full GC is kept too.
import { BENCH_TEAM } from '../bench-model.ts';
import { ManagedChild } from '../lib/children.ts';
import { benchEpoch, delay } from '../lib/clock.ts';
import { ChorusClient } from '../lib/chorus-client.ts';
import type { ConnectResult } from '../load/viewers.ts';
import type { SystemName } from '../load/viewers.ts';
import { chorusEnvironment, startChorusServer } from './systems.ts';

export interface MemoryResult {
  connections: number;
  threads: number;
  warmupConnections: number;
  /** RSS growth per connection after a memory-reducing GC (what stays with the connections). */
  rssPerConnectionKB: number;
  /** RSS growth per connection after an ordinary full GC (includes heap headroom from the connect burst). */
  rssRegularGcPerConnectionKB: number;
  heapPerConnectionKB: number;
  /** Growth of the V8 heap's reserved size (heapTotal) per connection: part of the RSS growth. */
  heapTotalPerConnectionKB: number;
  /** Server RSS with every connection open, MB. */
  rssMB: number;
  connectSeconds: number;
}

interface MemorySample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  collected: boolean;
}

export interface MemoryOptions {
  system: SystemName;
  redisUrl: string;
  prefix: string;
  connections: number;
  threads: number;
  warmup: number;
  loadGenerator: ManagedChild;
  log: (line: string) => void;
}

export async function measureMemory(options: MemoryOptions): Promise<MemoryResult> {
  const { system, loadGenerator } = options;
  const targets = Array.from({ length: options.threads }, (_, index) => `idle-${index}`);
  let server: ManagedChild<{ port: number }>;
  let url: string;
  if (system === 'chorus') {
    const chorus = startChorusServer(
      'chorus-memory',
      chorusEnvironment({ redisUrl: options.redisUrl, prefix: options.prefix, instanceId: 'bench-memory' }),
      ['--expose-gc'],
    );
    server = chorus;
    const ready = await chorus.ready;
    url = `ws://127.0.0.1:${ready.port}/ws`;
    const client = await ChorusClient.connect(url, 'bench-setup');
    for (const threadId of targets)
      await client.request({ type: 'create-thread', threadId, team: BENCH_TEAM }, 'thread-created');
    client.close();
  } else {
    server = new ManagedChild<{ port: number }>(
      system === 'socketio' ? 'servers/socketio-server.ts' : 'servers/ws-relay.ts',
      {
        name: `${system}-memory`,
        env: { BENCH_EPOCH: String(benchEpoch), REDIS_URL: options.redisUrl, BENCH_PREFIX: options.prefix },
        execArgv: ['--expose-gc'],
      },
    );
    const ready = await server.ready;
    url = system === 'socketio' ? `http://127.0.0.1:${ready.port}` : `ws://127.0.0.1:${ready.port}/ws`;
  }
  try {
    const connect = async (count: number) => {
      const result = await loadGenerator.request<ConnectResult>(
        'connect',
        { system, url, targets, count, concurrency: 100, timeoutMs: 120_000 },
        180_000,
      );
      if (result.open < count)
        throw new Error(
          `only ${result.open} of ${count} connections subscribed: ${result.errors.join('; ')}`,
        );
      return result;
    };
    await connect(options.warmup);
    await delay(500);
    const before = await server.request<MemorySample>('memory', { flavor: 'last-resort' });
    if (!before.collected) throw new Error('the server was not started with --expose-gc');
    const opened = await connect(options.warmup + options.connections);
    // Let connection set-up garbage (handshake buffers, promises) become collectable, and V8's
    // memory reducer shrink the heap it grew during the burst of connects.
    await delay(3000);
    const afterRegular = await server.request<MemorySample>('memory', { flavor: 'regular' });
    const after = await server.request<MemorySample>('memory', { flavor: 'last-resort' });
    const kb = (bytes: number) => bytes / 1024 / options.connections;
    const result: MemoryResult = {
      connections: options.connections,
      threads: options.threads,
      warmupConnections: options.warmup,
      rssPerConnectionKB: kb(after.rss - before.rss),
      rssRegularGcPerConnectionKB: kb(afterRegular.rss - before.rss),
      heapPerConnectionKB: kb(after.heapUsed + after.external - before.heapUsed - before.external),
      heapTotalPerConnectionKB: kb(after.heapTotal - before.heapTotal),
      rssMB: after.rss / 1024 / 1024,
      connectSeconds: opened.elapsedMs / 1000,
    };
    options.log(
      `    ${options.connections} idle connections over ${options.threads} threads: RSS ${result.rssPerConnectionKB.toFixed(1)} KB, ` +
        `heap+external ${result.heapPerConnectionKB.toFixed(1)} KB per connection (server RSS ${result.rssMB.toFixed(0)} MB)`,
    );
    return result;
  } finally {
    await loadGenerator.request('close-all');
    await server.stop();
  }
}
