#!/usr/bin/env node
// `chorus`, the terminal client: chorus new | watch | post | history (see `chorus --help`).
import { runCli } from './run-cli.ts';

// Output piped into a command that stops reading (`chorus watch t | head`): stop quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const stopRequested = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});
const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stopRequested,
});
// Exit once the output is written: a socket still closing must not keep the command alive.
process.stdout.write('', () => process.exit(code));
