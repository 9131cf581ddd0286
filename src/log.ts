// Structured logs (pino): JSON lines on stdout, or — with `pretty` (npm start at a terminal) — one
// human-readable line each. `CHORUS_LOG_LEVEL` / `LOG_LEVEL` set the level.
import { pino, type Logger } from 'pino';
import { prettyLogStream } from './server/pretty-log-stream.ts';

export type { Logger };

export function createLogger(options: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const settings = {
    name: options.name ?? 'chorus',
    level: options.level ?? process.env.CHORUS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // process.stdout rather than pino's own fd writer: sonic-boom's exit flush retries a write that
  // failed with EPIPE for ever, so a process whose log reader went away hung at exit. A pipe's
  // process.stdout writes synchronously on Linux as sonic-boom's sync mode does, and a closed
  // pipe is an error event on it (see ignoreClosedOutput).
  if (!options.pretty) return pino(settings, process.stdout);
  return pino(settings, prettyLogStream(process.stdout, { colors: process.stdout.hasColors?.() ?? false }));
}

/** A logger that drops everything: the default for library use and unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * A log reader that went away (`chorus-server | head`, a supervisor's dead pipe) must not crash
 * or hang the process: what is written to stdout or stderr after that is dropped.
 */
export function ignoreClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
      throw error;
    });
  }
}
