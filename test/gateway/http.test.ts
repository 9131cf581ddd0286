// Story: operators and browsers talk HTTP to an instance: health and readiness probes, Prometheus
// metrics, the viewer page; the WebSocket lives at /ws only, with the chorus.v1 subprotocol.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';

describe('HTTP endpoints and the WebSocket path', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers /healthz and /readyz with 200', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', instanceId: server.app.instanceId });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, draining: false });
  });

  it('serves Prometheus metrics prefixed chorus_', async () => {
    const client = await connect(server.wsUrl);
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toMatch(/^chorus_connections 1$/m);
    expect(text).toMatch(/^# TYPE chorus_frames_sent_total counter$/m);
    const names = text
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/[{ ]/)[0]!);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !name.startsWith('chorus_'))).toEqual([]);
    await client.close();
  });

  it('serves the viewer page at / and 404 elsewhere', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<html[\s>]/);
    const missing = await fetch(`${server.url}/no-such-page`);
    expect(missing.status).toBe(404);
    await missing.body?.cancel();
  });

  it('accepts WebSockets at /ws only, with or without the chorus.v1 subprotocol', async () => {
    await expect(connect(`ws://127.0.0.1:${server.port}/socket`)).rejects.toThrow(/404/);
    await expect(connect(`ws://127.0.0.1:${server.port}/`)).rejects.toThrow(/404/);
    const withProtocol = await connect(server.wsUrl, { protocols: 'chorus.v1' });
    expect(withProtocol.socket.protocol).toBe('chorus.v1');
    const without = await connect(server.wsUrl, { protocols: [] });
    expect(without.socket.protocol).toBe('');
    expect(without.welcome?.protocol).toBe(1);
    await Promise.all([withProtocol.close(), without.close()]);
  });
});
