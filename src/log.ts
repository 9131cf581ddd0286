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
  if (!options.pretty) return pino(settings);
  return pino(settings, prettyLogStream(process.stdout, { colors: process.stdout.hasColors?.() ?? false }));
}

/** A logger that drops everything: the default for library use and unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
