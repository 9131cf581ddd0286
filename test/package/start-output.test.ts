// What `npm start` shows: JSON log lines when stdout is not a terminal (a container, a pipe), one
// readable line per record at a terminal, and in both cases the URL to open said in plain words.
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
});
