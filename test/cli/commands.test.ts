// The `chorus` commands against a real instance: new prints the thread id, post prints the stored
// message's id, history prints `author: text` lines (or JSON), and each failure has its exit code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.ts';
import { connect } from '../support/ws-client.ts';
import { readHistory, subscribe } from '../gateway/thread-frames.ts';
import { runCli } from './support.ts';

describe('chorus new, post, history', () => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startServer({ CHORUS_DEMO_TOKENS_PER_SECOND: '0' });
    env = { CHORUS_URL: server.wsUrl };
  });

  afterAll(async () => {
    await server.close();
  });

  it('creates a thread, posts to it and prints its history', async () => {
    const created = await runCli(['new', '--id', 'cli-thread'], env);
    expect(created).toMatchObject({ code: 0, stdout: 'cli-thread\n' });
    const again = await runCli(['new', '--id', 'cli-thread', '--url', server.wsUrl]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/existed already/);

    const reader = await connect(server.wsUrl);
    await subscribe(reader, 'cli-thread');
    const posted = await runCli(['post', 'cli-thread', 'Plan', 'a', 'picnic', '--user', 'ada'], env);
    expect(posted.code).toBe(0);
    const messageId = posted.stdout.trim();
    await reader.waitFor('run-end', () => true, 15_000);
    const history = await readHistory(reader, 'cli-thread');
    expect(history[0]).toMatchObject({ id: messageId, author: 'ada', text: 'Plan a picnic' });

    const printed = await runCli(['history', 'cli-thread'], env);
    expect(printed.code).toBe(0);
    expect(printed.stdout.split('\n').filter(Boolean)).toEqual(
      history.map((message) => `${message.author}: ${message.text}`),
    );
    const newest = await runCli(['history', 'cli-thread', '--limit', '1', '--json'], env);
    const lines = newest.stdout.split('\n').filter(Boolean);
    const last = history.at(-1);
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ id: last?.id, text: last?.text, author: last?.author }),
    ]);
    await reader.close();
  });

  it('exits 1 when the server refuses, 2 on bad usage, 3 without a server', async () => {
    const refused = await runCli(['post', 'no-such-thread', 'hello'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not-found/);
    expect((await runCli(['watch'], env)).code).toBe(2);
    expect((await runCli(['frobnicate'], env)).code).toBe(2);
    expect((await runCli(['history', 'x', '--limit', 'lots'], env)).code).toBe(2);
    // A URL that is none (it used to be tried, and exit 3 as if no server were there).
    const notUrl = await runCli(['new', '--url', 'notaurl']);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--url must be a ws:// or wss:// URL');
    expect((await runCli(['new'], { CHORUS_URL: 'http://localhost:8080/ws' })).code).toBe(2);
    expect((await runCli(['help'], env)).stdout).toContain('Usage: chorus <command>');
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: chorus/);
    const unreachable = await runCli(['new', '--url', 'ws://127.0.0.1:9/ws', '--timeout', '300']);
    expect(unreachable.code).toBe(3);
  });
});
