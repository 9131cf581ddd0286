// CHORUS_PROCESSES: `node src/main.ts` supervising several instance processes on one port. They
// are separate instances (connections land on each), share threads through Redis (a post on one is
// answered and seen on the other), a process that dies is started again, and SIGTERM stops them all
// with exit code 0. Without Redis the supervisor refuses to start.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { spawnServer, type SpawnedServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { createThread, post, subscribe } from '../gateway/thread-frames.ts';

const redisUrl = inject('redisUrl');

describe('several instance processes on one port', () => {
  const servers: SpawnedServer[] = [];
  const clients: TestClient[] = [];
  const prefixes: string[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.terminate().catch(() => undefined)));
    for (const server of servers.splice(0)) {
      server.kill('SIGKILL');
      await server.exited;
    }
    for (const prefix of prefixes.splice(0)) await cleanupPrefix(redisUrl, prefix);
  });

  /** Connects until clients on `count` distinct instances are open; answers one client per instance. */
  async function clientsOnInstances(server: SpawnedServer, count: number): Promise<Map<string, TestClient>> {
    const byInstance = new Map<string, TestClient>();
    for (let attempt = 0; attempt < 40 && byInstance.size < count; attempt += 1) {
      const client = await connect(server.wsUrl, { hello: { user: 'ada' } });
      clients.push(client);
      const welcome = client.frames.find((frame) => frame.type === 'welcome');
      if (welcome?.type !== 'welcome') throw new Error('no welcome');
      if (!byInstance.has(welcome.instanceId)) byInstance.set(welcome.instanceId, client);
    }
    return byInstance;
  }

  it(
    'serves from every process, shares threads through Redis, restarts a dead one and stops on SIGTERM',
    {
      timeout: 60_000,
    },
    async () => {
      const prefix = uniquePrefix('processes');
      prefixes.push(prefix);
      const server = await spawnServer({
        CHORUS_PROCESSES: '2',
        REDIS_URL: redisUrl,
        CHORUS_REDIS_PREFIX: prefix,
        CHORUS_INSTANCE_ID: 'host-a',
      });
      servers.push(server);
      // Both instance processes listen (the supervisor hands connections only to those that do).
      await expect
        .poll(() => server.logs.filter((line) => line.msg === 'chorus listening').length, { timeout: 15_000 })
        .toBe(2);
      const byInstance = await clientsOnInstances(server, 2);
      expect([...byInstance.keys()].sort()).toEqual(['host-a-1', 'host-a-2']);
      const [poster, viewer] = [...byInstance.values()] as [TestClient, TestClient];

      const threadId = await createThread(poster);
      await subscribe(viewer, threadId);
      await post(poster, threadId, 'hello from one process');
      const end = await viewer.waitFor('run-end', () => true, 15_000);
      expect(end.reason).not.toBe('failed');
      expect(viewer.frames.some((frame) => frame.type === 'message-end')).toBe(true);

      // One process dies: the supervisor starts another in its place.
      const started = server.logs.filter((line) => line.msg === 'instance process started');
      expect(started).toHaveLength(2);
      process.kill(Number(started[0]?.pid), 'SIGKILL');
      await server.waitForLog('an instance process exited; starting another', 10_000);
      await expect
        .poll(() => server.logs.filter((line) => line.msg === 'chorus listening').length, { timeout: 15_000 })
        .toBe(3);
      // The replacement keeps the dead one's instance id (it used to take the next number).
      const replacement = server.logs.filter((line) => line.msg === 'chorus listening')[2];
      expect(replacement?.instanceId).toBe(`host-a-${String(started[0]?.instance)}`);

      server.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    },
  );

  it('stops with exit 1 when its instance processes fail at start-up, instead of restarting them for ever', async () => {
    const prefix = uniquePrefix('processes-bad');
    prefixes.push(prefix);
    const attempt = spawnServer(
      {
        CHORUS_PROCESSES: '2',
        REDIS_URL: redisUrl,
        CHORUS_REDIS_PREFIX: prefix,
        CHORUS_TEAM_FILE: '/nonexistent/teams.yaml',
      },
      30_000,
    );
    await expect(attempt).rejects.toThrow(/"code":1\b/);
    await expect(attempt).rejects.toThrow(/keep failing at start-up/);
  });

  it('refuses more than one process without Redis', async () => {
    const server = spawnServer({ CHORUS_PROCESSES: '2', REDIS_URL: '' });
    await expect(server).rejects.toThrow(/CHORUS_PROCESSES above 1 needs REDIS_URL/);
  });
});
