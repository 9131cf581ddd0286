// `chorus post <threadId> <text>`: posts a message (retried until stored once) and prints its id.
import { reportFailure, type CliContext } from '../cli-context.ts';
import { ExitCode } from '../exit-code.ts';

export async function postMessage(context: CliContext): Promise<ExitCode> {
  const { options, client } = context;
  const [threadId = '', ...words] = options.positionals;
  try {
    await client.connect({ timeoutMs: options.timeoutMs });
    const thread = client.thread(threadId);
    const result = await thread.post(words.join(' ')).done;
    context.stdout(`${result.messageId}\n`);
    if (result.queued) context.stderr('chorus: a run is active; the message waits for the next one\n');
    return ExitCode.ok;
  } catch (error) {
    return reportFailure(context, error);
  }
}
