// Story: `chorus watch` follows a thread on instance A while the agents run on instance B (one
// Redis). It prints the run's text as it streams; A is restarted mid-run (SIGTERM, then started
// again on its port); the watcher reconnects, resumes, and its transcript ends up exactly the
// stored history — every message once, each line whole — and Ctrl-C ends it with 0.
import { afterEach, describe, expect, inject, it } from 'vitest';
import { readHistory, subscribe } from '../gateway/thread-frames.ts';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { spawnServer, type EnvOverrides, type SpawnedServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startCli, type CliProcess } from './support.ts';

const STORY_TIMEOUT_MS = 90_000;
const SPAWN_TIMEOUT_MS = 30_000;

describe('chorus watch across a restart of its instance', () => {
  const servers: SpawnedServer[] = [];
  const clients: TestClient[] = [];
  const clis: CliProcess[] = [];
  let prefix: string | undefined;

  afterEach(async () => {
    for (const cli of clis.splice(0)) cli.process.kill('SIGKILL');
    await Promise.all(clients.splice(0).map((client) => client.terminate()));
    await Promise.all(
      servers.splice(0).map(async (server) => {
        server.kill('SIGKILL');
        await server.exited;
      }),
    );
    if (prefix) await cleanupPrefix(inject('redisUrl'), prefix);
  });

  const spawn = async (env: EnvOverrides) => {
    const server = await spawnServer(env, SPAWN_TIMEOUT_MS);
    servers.push(server);
    return server;
  };

  it(
    'prints the run as it streams and keeps going, exactly once, across the restart',
    async () => {
      prefix = uniquePrefix('cli-watch');
      const shared: EnvOverrides = {
        REDIS_URL: inject('redisUrl'),
        CHORUS_REDIS_PREFIX: prefix,
        // 30 tokens/s: a message streams for 1.5–3 s, so the restart lands mid-run.
        CHORUS_DEMO_TOKENS_PER_SECOND: '30',
        CHORUS_LEASE_MS: '1500',
        CHORUS_DRAIN_MS: '0',
      };
      const [instanceA, instanceB] = await Promise.all([
        spawn({ ...shared, CHORUS_INSTANCE_ID: `a-${prefix}` }),
        spawn({ ...shared, CHORUS_INSTANCE_ID: `b-${prefix}` }),
      ]);
      const poster = await connect(instanceB.wsUrl, { hello: { user: 'ada' } });
      clients.push(poster);
      await poster.request({ type: 'create-thread', threadId: 'watched' }, 'thread-created');
      await subscribe(poster, 'watched');

      const cli = startCli(['watch', 'watched', '--url', instanceA.wsUrl]);
      clis.push(cli);
      await cli.waitFor('stderr', 'the watcher to subscribe', (text) => text.includes('watching watched'));

      await poster.request(
        { type: 'post', threadId: 'watched', clientMessageId: 'q1', text: 'Plan a picnic' },
        'posted',
      );
      const firstStart = await poster.waitFor('message-start', () => true, 10_000);
      // As it streams: the planner's line shows text before the planner's message has ended.
      await cli.waitFor('stdout', "the planner's first words", (text) => /planner: \S+/.test(text));
      expect(
        poster.frames.some(
          (frame) => frame.type === 'message-end' && frame.messageId === firstStart.messageId,
        ),
      ).toBe(false);
      // B runs it (its log line may reach this process after the frames did).
      expect((await instanceB.waitForLog('run started')).threadId).toBe('watched');

      // Restart A, the watcher's instance, mid-run.
      instanceA.kill('SIGTERM');
      expect((await instanceA.exited).code).toBe(0);
      await spawn({ ...shared, CHORUS_INSTANCE_ID: `a-${prefix}`, PORT: String(instanceA.port) });
      await cli.waitFor(
        'stderr',
        'the watcher to resume',
        (text) => /resumed \(\d+ missed/.test(text),
        45_000,
      );

      await poster.waitFor('run-end', () => true, 45_000);
      const history = await readHistory(poster, 'watched');
      const expected = history.map((message) => `${message.author}: ${message.text}`);
      const transcript = () =>
        cli
          .stdout()
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith('── run ended'));
      await cli.waitFor(
        'stdout',
        'the whole history in the transcript',
        () => transcript().length >= expected.length,
        20_000,
      );
      expect(transcript()).toEqual(expected);
      expect(history.length).toBeGreaterThan(3);
      expect(cli.stderr()).toMatch(/connection lost \(1001/);

      cli.process.kill('SIGINT');
      expect(await cli.exited).toBe(0);
    },
    STORY_TIMEOUT_MS,
  );
});
