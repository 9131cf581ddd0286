// `chorus/server`: Chorus inside a host's own HTTP server, under a base path. Chorus answers its
// routes and upgrades and hands back everything else; close() drains and tells clients 1001.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ChorusClient } from '../../src/client/index.ts';
import { createChorusServer, silentLogger, type ChorusServer } from '../../src/server/index.ts';
import { until } from '../client/support.ts';

describe('Chorus embedded in a host HTTP server', () => {
  let chorus: ChorusServer | undefined;
  let server: Server | undefined;
  let client: ChorusClient | undefined;

  afterEach(async () => {
    client?.close();
    await chorus?.close({ drainMs: 0 });
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('serves its routes and WebSocket under the base path and leaves the rest to the host', async () => {
    chorus = await createChorusServer({
      env: { CHORUS_DEMO_TOKENS_PER_SECOND: '0' },
      basePath: '/chorus/',
      logger: silentLogger,
    });
    const embedded = chorus;
    const upgrades: string[] = [];
    server = createServer((request, response) => {
      if (!embedded.handleRequest(request, response)) response.writeHead(404).end('host: not found');
    });
    server.on('upgrade', (request, socket, head) => {
      if (embedded.handleUpgrade(request, socket, head)) return;
      upgrades.push(request.url ?? '');
      socket.destroy();
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    expect((await fetch(`${origin}/chorus/healthz`)).status).toBe(200);
    expect((await fetch(`${origin}/chorus/readyz`)).status).toBe(200);
    const page = await (await fetch(`${origin}/chorus/`)).text();
    expect(page).toMatch(/<script type="module" src="\/chorus\/viewer\.js">/);
    expect(page).toMatch(/<link rel="stylesheet" href="\/chorus\/viewer\.css">/);
    const bundle = await fetch(`${origin}/chorus/viewer.js`);
    expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await bundle.text()).toContain('chorus.v1');
    const host = await fetch(`${origin}/healthz`);
    expect([host.status, await host.text()]).toEqual([404, 'host: not found']);

    // The HTTP API, its OpenAPI document and AG-UI are under the base path as well.
    const json = { 'content-type': 'application/json' };
    const created = await fetch(`${origin}/chorus/v1/threads`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ threadId: 'based' }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${origin}/chorus/v1/threads/based`)).status).toBe(200);
    expect((await fetch(`${origin}/v1/threads/based`)).status).toBe(404);
    const openapi = await fetch(`${origin}/chorus/v1/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
    const agUi = await fetch(`${origin}/chorus/ag-ui/no-such-team`, {
      method: 'POST',
      headers: { ...json, accept: 'text/event-stream' },
      body: JSON.stringify({
        threadId: 'based-ag-ui',
        runId: 'r1',
        messages: [{ id: 'u1', role: 'user', content: 'hi' }],
        tools: [],
        context: [],
        state: {},
        forwardedProps: {},
      }),
    });
    expect(agUi.status).toBe(404);
    expect(((await agUi.json()) as { code: string }).code).toBe('not-found');
    expect((await fetch(`${origin}/ag-ui`, { method: 'POST', headers: json, body: '{}' })).status).toBe(404);

    client = new ChorusClient({ url: `${origin.replace('http', 'ws')}/chorus/ws`, user: 'guest' });
    const { threadId } = await client.createThread();
    const thread = client.thread(threadId);
    const ended = thread.once('run-end');
    await thread.post('Hello').done;
    expect((await ended).reason).toBe('terminated');

    const stray = new WebSocket(`${origin.replace('http', 'ws')}/ws`);
    await new Promise((resolve) => stray.addEventListener('error', resolve));
    expect(upgrades).toEqual(['/ws']);

    const watching = client;
    await embedded.close({ drainMs: 0 });
    await until(
      [watching],
      'the client to see the server go away',
      () => watching.connection.lastClose?.code === 1001,
    );
    expect((await fetch(`${origin}/chorus/readyz`)).status).toBe(503);
  });
});
