// A small formatter for pino's JSON lines, for people at a terminal: `12:04:31 INFO  message key=value`,
// coloured by level, errors with their stack. Used instead of JSON when stdout is a TTY.
const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\u001b[90m' },
  20: { name: 'DEBUG', color: '\u001b[36m' },
  30: { name: 'INFO ', color: '\u001b[32m' },
  40: { name: 'WARN ', color: '\u001b[33m' },
  50: { name: 'ERROR', color: '\u001b[31m' },
  60: { name: 'FATAL', color: '\u001b[35m' },
};
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';
/** Fields every line has; they are shown in the prefix or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

export interface TextOutput {
  write(text: string): unknown;
}

/** A destination for pino that writes each JSON line to `output` as one human-readable line. */
export function prettyLogStream(output: TextOutput, options: { colors: boolean }): TextOutput {
  const paint = (color: string, text: string) => (options.colors ? `${color}${text}${RESET}` : text);
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return output.write(line);
      }
      const level = LEVELS[Number(record.level)] ?? { name: String(record.level), color: '' };
      const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
      const fields = Object.entries(record)
        .filter(([key]) => !HIDDEN.has(key) && key !== 'err')
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
      const error = describeError(record.err);
      const text = [
        paint(DIM, time),
        paint(level.color, level.name),
        String(record.msg ?? ''),
        fields.length > 0 ? paint(DIM, fields.join(' ')) : '',
      ]
        .filter((piece) => piece !== '')
        .join(' ');
      return output.write(`${text}${error ? `\n${paint(DIM, error)}` : ''}\n`);
    },
  };
}

function describeError(value: unknown): string {
  if (typeof value !== 'object' || value === null) return value === undefined ? '' : String(value);
  const error = value as { stack?: unknown; message?: unknown };
  if (typeof error.stack === 'string') return error.stack;
  return typeof error.message === 'string' ? error.message : JSON.stringify(value);
}
