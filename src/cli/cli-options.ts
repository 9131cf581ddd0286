// Parses the `chorus` command line (node:util parseArgs): the command, its arguments and the
// options shared by every command.
import { parseArgs } from 'node:util';

export const USAGE = `Usage: chorus <command> [options]

Commands:
  new [--team <name>] [--id <threadId>]   create a thread; prints its id
  watch <threadId> [--cursor <cursor>]    print the thread live (author: text), resuming across disconnects
  post <threadId> <text…>                 post a message (its words joined by spaces); prints its id
  history <threadId> [--limit <n>] [--json]   print the stored messages, oldest first

Options:
  --url <url>        the server's WebSocket (default $CHORUS_URL, else ws://localhost:8080/ws)
  --token <jwt>      a token when the server has authentication on (default $CHORUS_TOKEN)
  --user <name>      display name when the token has no subject (default $CHORUS_USER)
  --timeout <ms>     how long new, post and history wait for the server (default 10000)
  -h, --help         this text

Exit codes: 0 done, 1 refused by the server, 2 bad usage, 3 no connection, 4 thread deleted (watch).`;

export interface CliOptions {
  command: 'new' | 'watch' | 'post' | 'history';
  positionals: string[];
  url: string;
  token: string | undefined;
  user: string | undefined;
  timeoutMs: number;
  team: string | undefined;
  id: string | undefined;
  cursor: string | undefined;
  limit: number | undefined;
  json: boolean;
}

export type ParseResult = { ok: true; options: CliOptions } | { ok: false; help: boolean; message: string };

const COMMANDS = new Set(['new', 'watch', 'post', 'history']);
const ARITY: Record<CliOptions['command'], [number, number]> = {
  new: [0, 0],
  watch: [1, 1],
  post: [2, Number.POSITIVE_INFINITY],
  history: [1, 1],
};

export function parseCliOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParseResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        user: { type: 'string' },
        timeout: { type: 'string' },
        team: { type: 'string' },
        id: { type: 'string' },
        cursor: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return { ok: false, help: false, message: error instanceof Error ? error.message : String(error) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { ok: false, help: true, message: '' };
  const [command, ...rest] = positionals;
  if (command === undefined) return { ok: false, help: true, message: 'no command given' };
  if (command === 'help') return { ok: false, help: true, message: '' };
  if (!COMMANDS.has(command)) return { ok: false, help: false, message: `unknown command "${command}"` };
  const name = command as CliOptions['command'];
  const [least, most] = ARITY[name];
  if (rest.length < least || rest.length > most)
    return {
      ok: false,
      help: false,
      message: `${name}: expected ${least === most ? least : `at least ${least}`} argument(s), got ${rest.length}`,
    };
  const timeoutMs = values.timeout === undefined ? 10_000 : Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    return { ok: false, help: false, message: `--timeout must be a positive number of milliseconds` };
  const url = values.url ?? env.CHORUS_URL ?? 'ws://localhost:8080/ws';
  if (!isWebSocketUrl(url))
    return {
      ok: false,
      help: false,
      message: `${values.url === undefined ? 'CHORUS_URL' : '--url'} must be a ws:// or wss:// URL (like ws://localhost:8080/ws), got ${JSON.stringify(url)}`,
    };
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0))
    return { ok: false, help: false, message: `--limit must be a positive integer` };
  return {
    ok: true,
    options: {
      command: name,
      positionals: rest,
      url,
      token: values.token ?? env.CHORUS_TOKEN,
      user: values.user ?? env.CHORUS_USER,
      timeoutMs,
      team: values.team,
      id: values.id,
      cursor: values.cursor,
      limit,
      json: values.json ?? false,
    },
  };
}

function isWebSocketUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'ws:' || protocol === 'wss:';
  } catch {
    return false;
  }
}
