// The agents' context across runs, now that a run start carries only the messages stored after
// what the instance already holds (src/runs/context-cache.ts): every turn still sees the whole
// history up to its run — after runs on another instance (the held copy is stale), and after the
// thread was deleted and created again (another epoch: nothing of the old history).
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cleanupPrefix, uniquePrefix } from '../support/redis.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { post, readHistory, subscribe, uniqueId } from '../gateway/thread-frames.ts';
import { ControlledModel, soloTeams } from './support.ts';

const redisUrl = inject('redisUrl');

describe('run context', () => {
  const servers: TestServer[] = [];
  const clients: TestClient[] = [];
  const prefixes: string[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await Promise.all(servers.splice(0).map((server) => server.close()));
    for (const prefix of prefixes.splice(0)) await cleanupPrefix(redisUrl, prefix);
  });

  async function instance(env: Record<string, string>) {
    const model = new ControlledModel();
    const server = await startServer({ CHORUS_POST_RATE: '0', ...env }, { teams: soloTeams(model) });
    servers.push(server);
    const client = await connect(server.wsUrl, { hello: { user: 'ada' } });
    clients.push(client);
    return { model, client };
  }

  /** Posts and waits for the run that answers it to end. */
  async function postAndWait(client: TestClient, threadId: string, text: string) {
    const posted = await post(client, threadId, text);
    await client.waitFor(
      'run-end',
      (frame) =>
        client.frames.some(
          (seen) =>
            seen.type === 'run-start' && seen.runId === frame.runId && seen.posts?.includes(posted.messageId),
        ),
      10_000,
    );
  }

  it('is the whole history at every run, whichever instance ran the runs before', async () => {
    const prefix = uniquePrefix('context');
    prefixes.push(prefix);
    const env = { REDIS_URL: redisUrl, CHORUS_REDIS_PREFIX: prefix };
    const a = await instance(env);
    const b = await instance(env);
    const threadId = uniqueId('context');
    await a.client.request({ type: 'create-thread', threadId, team: 'solo' }, 'thread-created');
    await subscribe(a.client, threadId);
    await subscribe(b.client, threadId);

    // A runs twice (it then holds the context up to its second run), B runs twice, A again.
    const order: [typeof a, string][] = [
      [a, 'one'],
      [a, 'two'],
      [b, 'three'],
      [b, 'four'],
      [a, 'five'],
    ];
    const expected: string[] = [];
    for (const [on, text] of order) {
      await postAndWait(on.client, threadId, text);
      expected.push(text);
      expect(on.model.contexts.at(-1)).toEqual(expected);
      expected.push(`reply to: ${text}`);
    }
    expect((await readHistory(a.client, threadId)).map((item) => item.text)).toEqual(expected);

    // Deleted and created again: the next run sees the new history only.
    await a.client.request({ type: 'delete-thread', threadId }, 'thread-deleted');
    await a.client.request({ type: 'create-thread', threadId, team: 'solo' }, 'thread-created');
    await subscribe(a.client, threadId);
    await postAndWait(a.client, threadId, 'fresh');
    expect(a.model.contexts.at(-1)).toEqual(['fresh']);
  });
});
