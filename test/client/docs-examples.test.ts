// docs/client.md's examples, run as they are written (only `chorus/client` is pointed at this
// repository's src/client) against a real instance: each is a complete program that exits 0.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHistory, subscribe } from '../gateway/thread-frames.ts';
import { codeBlocks } from '../support/doc-examples.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type TestClient } from '../support/ws-client.ts';

const DOC = new URL('../../docs/client.md', import.meta.url);
const SDK = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
const examples = codeBlocks(DOC, 'ts');

describe('docs/client.md examples', () => {
  let server: TestServer;
  let directory: string;
  let poster: TestClient;

  beforeAll(async () => {
    server = await startServer({ CHORUS_DEMO_TOKENS_PER_SECOND: '0' });
    directory = await mkdtemp(join(tmpdir(), 'chorus-doc-examples-'));
    for (const example of examples) {
      await writeFile(
        join(directory, example.name),
        example.code.replaceAll("from 'chorus/client'", `from '${SDK}'`),
      );
    }
    poster = await connect(server.wsUrl, { hello: { user: 'poster' } });
  });

  afterAll(async () => {
    await poster.close();
    await server.close();
    await rm(directory, { recursive: true, force: true });
  });

  const run = (name: string, env: Record<string, string> = {}) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(directory, name)],
        {
          cwd: directory,
          env: { PATH: process.env.PATH ?? '', CHORUS_URL: server.wsUrl, ...env },
          timeout: 20_000,
        },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`${name} failed: ${error.message}\n${stdout}\n${stderr}`))
            : resolve(stdout),
      );
    });

  it('README.md shows the first one as it is', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(examples[0]?.code);
  });

  it('has the complete program first, then the others', () => {
    expect(examples.map((example) => example.name)).toEqual([
      'ask.ts',
      'errors.ts',
      'board.ts',
      'catch-up.ts',
    ]);
  });

  it('ask.ts creates a thread, posts, prints the agents’ replies and exits 0 when the run ends', async () => {
    const output = await run('ask.ts', {});
    const lines = output.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('(run ended: terminated, approval)');
    const replies = lines.slice(0, -1);
    expect(replies.length).toBeGreaterThanOrEqual(3);
    for (const line of replies) expect(line).toMatch(/^(planner|writer|reviewer): \S.+/);
    expect(replies.at(-1)).toMatch(/^reviewer: .*APPROVED$/);
  });

  it('errors.ts reports the server’s error code', async () => {
    const output = await run('errors.ts');
    expect(output).toContain('connection: connected');
    expect(output).toContain('not-found (retryable: false): thread not found');
    expect(output).toMatch(/round trip: \d+ ms/);
  });

  it('board.ts shows the post sending, then every item with its status', async () => {
    const output = await run('board.ts');
    const lines = output.trimEnd().split('\n');
    expect(lines).toContain('sending     ada: Plan a picnic');
    expect(lines.some((line) => /^\[run \S+ started: show Stop\]$/.test(line))).toBe(true);
    expect(lines).toContain('[run ended: terminated: hide Stop]');
    expect(lines.at(-1)).toBe('[connection closed]');
    const board = lines.slice(lines.indexOf('[run ended: terminated: hide Stop]') + 1, -1);
    expect(board[0]).toBe('completed   ada: Plan a picnic');
    expect(board.length).toBeGreaterThan(3);
    for (const line of board) expect(line).toMatch(/^completed {3}\w+: /);
  });

  it('catch-up.ts prints the newest messages first, then only what is new since its last run', async () => {
    await poster.request({ type: 'create-thread', threadId: 'catch-up' }, 'thread-created');
    await subscribe(poster, 'catch-up');
    const ask = async (text: string) => {
      await poster.request(
        { type: 'post', threadId: 'catch-up', clientMessageId: text.replaceAll(' ', '-'), text },
        'posted',
      );
      await poster.next((frame) => frame.type === 'run-end', { timeoutMs: 15_000 });
    };
    await ask('first question');
    const env = { CHORUS_THREAD: 'catch-up', CURSOR_FILE: join(directory, 'cursors.json') };
    const before = await readHistory(poster, 'catch-up');
    const first = await run('catch-up.ts', env);
    expect(first).toBe(
      `${before.map((message) => `${message.author}: ${message.text}`).join('\n')}\n(the ${before.length} newest messages)\n`,
    );
    await ask('second question');
    const after = await readHistory(poster, 'catch-up');
    const added = after.slice(before.length);
    const second = await run('catch-up.ts', env);
    expect(second).toBe(
      `${added.map((message) => `${message.author}: ${message.text}`).join('\n')}\n(${added.length} new since last time)\n`,
    );
  });

  it('catch-up.ts on a thread that does not exist ends with not-found (it used to wait for ever)', async () => {
    const env = { CHORUS_THREAD: 'never-created', CURSOR_FILE: join(directory, 'none.json') };
    await expect(run('catch-up.ts', env)).rejects.toThrow(/thread not found/);
  });
});
