// The multitask policy of a team file, over WebSocket: `reject` refuses a post during a run with
// `busy`; `interrupt` ends the current run `cancelled` / `superseded` (its message in flight
// stored `cancelled`) and runs the new post.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { createTeamsFromConfig } from '../../src/teams/create-teams.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { collectRun, post, readHistory, subscribe, uniqueId } from '../gateway/thread-frames.ts';

const TEAM_FILE = fileURLToPath(new URL('../fixtures/teams/policies.yaml', import.meta.url));

describe('multitask policies from a team file', () => {
  let app: App;
  let client: TestClient;

  beforeAll(async () => {
    // Slow enough that a run is still streaming when the second post arrives.
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      CHORUS_TEAM_FILE: TEAM_FILE,
      CHORUS_DEMO_TOKENS_PER_SECOND: '200',
    });
    const teams = await createTeamsFromConfig(config, silentLogger, { env: {} });
    app = await createApp({ config, teams });
    const port = await app.start();
    client = await connect(`ws://127.0.0.1:${port}/ws`, { hello: { user: 'ada' } });
  });

  afterAll(async () => {
    await client.close();
    await app.shutdown(0);
  });

  async function thread(team: string): Promise<string> {
    const threadId = uniqueId(team);
    const created = await client.request({ type: 'create-thread', threadId, team }, 'thread-created');
    expect(created.team).toBe(team);
    await subscribe(client, threadId);
    return threadId;
  }

  it('reject: a post during a run gets busy and is not stored', async () => {
    const threadId = await thread('strict');
    await post(client, threadId, 'Plan a picnic');
    const runStart = await client.waitFor('run-start', (frame) => frame.threadId === threadId);
    await client.waitFor('message-delta', (frame) => frame.threadId === threadId);
    const refused = await client.request(
      { type: 'post', threadId, clientMessageId: uniqueId('late'), text: 'And drinks?' },
      'error',
    );
    expect(refused).toMatchObject({ code: 'busy', retryable: true });
    const frames = await collectRun(client, runStart.runId);
    expect(frames.at(-1)).toMatchObject({ type: 'run-end', reason: 'terminated', detail: 'approval' });
    const history = await readHistory(client, threadId);
    expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.text)).toEqual([
      'Plan a picnic',
    ]);
  });

  it('interrupt: the run ends cancelled/superseded and the new post runs', async () => {
    const threadId = await thread('eager');
    await post(client, threadId, 'Plan a picnic');
    const first = await client.waitFor('run-start', (frame) => frame.threadId === threadId);
    await client.waitFor('message-delta', (frame) => frame.threadId === threadId);
    await post(client, threadId, 'Make it a barbecue instead');
    const firstRun = await collectRun(client, first.runId);
    expect(firstRun.at(-1)).toMatchObject({ type: 'run-end', reason: 'cancelled', detail: 'superseded' });
    const cut = firstRun.filter((frame) => frame.type === 'message-end');
    expect(cut.at(-1)).toMatchObject({ message: { status: 'cancelled' } });

    const second = await client.waitFor(
      'run-start',
      (frame) => frame.threadId === threadId && frame.runId !== first.runId,
    );
    const secondRun = await collectRun(client, second.runId);
    expect(secondRun.at(-1)).toMatchObject({ type: 'run-end', reason: 'terminated', detail: 'approval' });
    const history = await readHistory(client, threadId);
    expect(history.map((entry) => `${entry.role}:${entry.status}`)).toContain('assistant:cancelled');
    expect(history.filter((entry) => entry.role === 'user').map((entry) => entry.text)).toEqual([
      'Plan a picnic',
      'Make it a barbecue instead',
    ]);
  });
});
