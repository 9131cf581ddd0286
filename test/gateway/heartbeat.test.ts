// Story: the server pings every heartbeatMs. A peer that stops answering pings (a dead network
// path, a frozen client) is closed with 4009 after two unanswered pings; a normal client, which
// answers pings automatically, stays connected across many heartbeats.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';

const HEARTBEAT_MS = 200;

describe('heartbeat', () => {
  let server: TestServer;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    server = await startServer({ CHORUS_HEARTBEAT_MS: String(HEARTBEAT_MS) });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('closes a peer that does not answer pings with 4009 and keeps one that does', async () => {
    const healthy = await connect(server.wsUrl, { hello: { user: 'healthy' } });
    const silent = await connect(server.wsUrl, { hello: { user: 'silent' }, autoPong: false });
    clients.push(healthy, silent);
    expect(healthy.welcome?.heartbeatMs).toBe(HEARTBEAT_MS);

    const closed = await silent.waitForClose(20 * HEARTBEAT_MS + 5000);
    expect(closed.code).toBe(4009);
    expect(silent.pings).toBeGreaterThanOrEqual(2);

    // The healthy client has seen more heartbeats than the silent one was allowed to miss.
    await healthy.waitForPings(silent.pings + 3, 20 * HEARTBEAT_MS + 5000);
    expect(healthy.isOpen).toBe(true);
    expect(await healthy.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(healthy.closeStatus).toBeUndefined();
  });
});
