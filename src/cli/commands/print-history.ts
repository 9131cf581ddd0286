// `chorus history <threadId> [--limit <n>] [--json]`: the thread's stored messages, oldest first
// (all of them, or the newest n), as `author: text` lines or one JSON message per line.
import type { Message } from '../../client/index.ts';
import { reportFailure, type CliContext } from '../cli-context.ts';
import { ExitCode } from '../exit-code.ts';
import { statusNote } from '../transcript-printer.ts';

export async function printHistory(context: CliContext): Promise<ExitCode> {
  const { options, client } = context;
  const [threadId = ''] = options.positionals;
  const wanted = options.limit ?? Number.POSITIVE_INFINITY;
  const messages: Message[] = [];
  try {
    let before: string | undefined;
    for (;;) {
      const page = await client.history(threadId, {
        ...(before === undefined ? {} : { before }),
        limit: Math.min(200, wanted - messages.length),
      });
      messages.unshift(...page.items.map((item) => item.message));
      before = page.items[0]?.cursor;
      if (!page.hasMore || before === undefined || messages.length >= wanted) break;
    }
  } catch (error) {
    return reportFailure(context, error);
  }
  for (const message of messages) {
    if (options.json) context.stdout(`${JSON.stringify(message)}\n`);
    else {
      const note = statusNote({ status: message.status, error: message.error ?? null });
      context.stdout(`${message.author}: ${message.text}${note}\n`);
    }
  }
  return ExitCode.ok;
}
