// `chorus watch <threadId> [--cursor <cursor>]`: prints the thread — its recent messages, then live
// text as the agents write — and keeps going across disconnects and server restarts (the client
// resumes from the last message it received). Connection news goes to stderr. Ctrl-C stops it.
import { ConnectionState } from '../../client/index.ts';
import type { CliContext } from '../cli-context.ts';
import { ExitCode } from '../exit-code.ts';
import { TranscriptPrinter } from '../transcript-printer.ts';

export async function watchThread(context: CliContext): Promise<ExitCode> {
  const { options, client } = context;
  const [threadId = ''] = options.positionals;
  const printer = new TranscriptPrinter(context.stdout);
  // Notes go to stderr and leave stdout's open line alone, so stdout stays the exact transcript.
  const note = (text: string) => context.stderr(`${printer.breakForNote() ? '\n' : ''}chorus: ${text}\n`);

  let lastState: string = client.state;
  client.on('state', ({ state, attempt, lastClose }) => {
    if (state === lastState) return;
    lastState = state;
    if (state === ConnectionState.reconnecting)
      note(
        `connection lost (${[lastClose?.code ?? '?', lastClose?.reason].filter(Boolean).join(' ')}); reconnecting (attempt ${attempt})`,
      );
    if (state === ConnectionState.connected)
      note(`connected to ${client.connection.welcome?.instanceId ?? options.url}`);
  });
  const thread = client.thread(threadId, options.cursor ? { cursor: options.cursor } : {});
  thread.on('text', (event) => printer.text(event));
  thread.on('run-end', (frame) => printer.runEnd(frame));
  let subscriptions = 0;
  thread.on('subscribed', ({ resumed, backlog }) => {
    subscriptions += 1;
    if (resumed) note(`resumed (${backlog} missed message${backlog === 1 ? '' : 's'})`);
    else if (subscriptions === 1) note(`watching ${threadId}`);
  });
  thread.on('reset', () => note('the thread could not be resumed exactly: showing its newest messages'));

  const finished = new Promise<ExitCode>((resolve) => {
    thread.on('deleted', () => {
      note('the thread was deleted');
      resolve(ExitCode.deleted);
    });
    thread.on('status', (status) => {
      if (status !== 'failed' && status !== 'closed') return;
      const error = thread.error ?? client.connection.error;
      note(`${error?.code ?? status}: ${error?.message ?? 'stopped'}`);
      resolve(status === 'failed' ? ExitCode.refused : ExitCode.connection);
    });
    void context.stopRequested.then(() => resolve(ExitCode.ok));
  });
  const code = await finished;
  printer.closeLine();
  return code;
}
