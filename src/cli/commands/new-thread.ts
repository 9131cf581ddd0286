// `chorus new [--team <name>] [--id <threadId>]`: creates a thread and prints its id.
import { reportFailure, type CliContext } from '../cli-context.ts';
import { ExitCode } from '../exit-code.ts';

export async function newThread(context: CliContext): Promise<ExitCode> {
  const { options, client } = context;
  try {
    const created = await client.createThread({
      ...(options.id ? { threadId: options.id } : {}),
      ...(options.team ? { team: options.team } : {}),
    });
    context.stdout(`${created.threadId}\n`);
    if (created.existing)
      context.stderr(`chorus: thread ${created.threadId} existed already (team ${created.team ?? '?'})\n`);
    return ExitCode.ok;
  } catch (error) {
    return reportFailure(context, error);
  }
}
