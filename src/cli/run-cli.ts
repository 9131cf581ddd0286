// The `chorus` command: parses the command line, runs the command on a client, returns the exit code.
import { parseCliOptions, USAGE } from './cli-options.ts';
import { createClient, type CliContext } from './cli-context.ts';
import { newThread } from './commands/new-thread.ts';
import { postMessage } from './commands/post-message.ts';
import { printHistory } from './commands/print-history.ts';
import { watchThread } from './commands/watch-thread.ts';
import { ExitCode } from './exit-code.ts';

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stopRequested: Promise<void>;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const parsed = parseCliOptions(argv, io.env);
  if (!parsed.ok) {
    if (parsed.help && !parsed.message) {
      io.stdout(`${USAGE}\n`);
      return ExitCode.ok;
    }
    io.stderr(`chorus: ${parsed.message}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  const { options } = parsed;
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket !== 'function') {
    io.stderr(`chorus needs Node.js 22 or newer (a global WebSocket); this is ${process.version}.\n`);
    return ExitCode.connection;
  }
  const client = createClient(options);
  const context: CliContext = {
    options,
    client,
    stdout: io.stdout,
    stderr: io.stderr,
    stopRequested: io.stopRequested,
  };
  try {
    switch (options.command) {
      case 'new':
        return await newThread(context);
      case 'watch':
        return await watchThread(context);
      case 'post':
        return await postMessage(context);
      case 'history':
        return await printHistory(context);
      default:
        return options.command satisfies never;
    }
  } finally {
    client.close();
  }
}
