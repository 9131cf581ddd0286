// What `npm start` shows: JSON log lines when stdout is not a terminal (a container, a pipe), one
// readable line per record at a terminal, and in both cases the URL to open said in plain words.
// Arguments are not configuration: --help and --version answer, anything else is refused (exit 2)
// instead of a server starting with the defaults.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { prettyLogStream } from '../../src/server/pretty-log-stream.ts';
import { spawnServer } from '../support/server.ts';

describe('start-up output', () => {
  it('logs JSON when piped and says the URL to open on stderr', async () => {
    const server = await spawnServer();
    const listening = await server.waitForLog('chorus listening');
    expect(listening).toMatchObject({ port: server.port, url: `http://127.0.0.1:${server.port}/` });
    server.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    // Everything the process wrote has been read once it has exited.
    expect(server.output.join('')).toContain(
      `Chorus is running: open http://127.0.0.1:${server.port}/ in a browser`,
    );
  });

  it('formats a record as one line at a terminal: time, level, message, fields, error stack', () => {
    const lines: string[] = [];
    const stream = prettyLogStream({ write: (text) => lines.push(text) }, { colors: false });
    stream.write(
      `${JSON.stringify({ level: 30, time: '2026-01-02T03:04:05.678Z', pid: 1, name: 'chorus', msg: 'chorus listening', port: 8080, teams: ['demo'] })}\n`,
    );
    stream.write(
      `${JSON.stringify({ level: 50, time: '2026-01-02T03:04:06.000Z', msg: 'request failed', err: { message: 'boom', stack: 'Error: boom\n    at here' } })}\n`,
    );
    stream.write('not json\n');
    expect(lines).toEqual([
      '03:04:05 INFO  chorus listening port=8080 teams=["demo"]\n',
      '03:04:06 ERROR request failed\nError: boom\n    at here\n',
      'not json\n',
    ]);
  });

  const main = (args: string[], env: Record<string, string> = {}, timeout = 10_000) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['src/main.ts', ...args],
        { timeout, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } },
        (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
      );
    });

  it('answers --help and --version, and refuses an unknown argument with exit 2', async () => {
    const help = await main(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^usage: chorus-server/);
    expect(help.stdout).toContain('environment variables');
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await main(['-v'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    // It used to start a server on the default port (it ran until killed: code null here).
    const unknown = await main(['bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unexpected argument "bogus"');
  });

  it('names the variable when it cannot listen or reach Redis (exit 1), without the password', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    // Nothing listens on the port just closed: the connection is refused until the connect timeout.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refused = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    try {
      const [inUse, noRedis] = await Promise.all([
        main([], { HOST: '127.0.0.1', PORT: String(port) }),
        main([], { REDIS_URL: `redis://user:s3cret@127.0.0.1:${refused}` }, 30_000),
      ]);
      expect(inUse.code).toBe(1);
      expect(inUse.stdout).toContain(`cannot listen on HOST 127.0.0.1 PORT ${port}: listen EADDRINUSE`);
      expect(noRedis.code).toBe(1);
      expect(noRedis.stdout).toContain(
        `REDIS_URL redis://user:***@127.0.0.1:${refused}: Redis is not reachable`,
      );
      expect(noRedis.stdout).toContain('ECONNREFUSED');
      expect(noRedis.stdout).not.toContain('s3cret');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 40_000);
});
