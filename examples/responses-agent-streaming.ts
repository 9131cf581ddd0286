// An agent on the OpenAI Responses API with its remote thread (the seed's assistant example; the
// Assistants API it used was shut down on 2026-08-26): the conversation lives server-side, and
// deleting the thread deletes it there.
//
//   OPENAI_API_KEY=… node examples/responses-agent-streaming.ts
import { pathToFileURL } from 'node:url';
import { ChatHistoryAgentThread, OpenAIResponsesAgent, type Message } from '../src/index.ts';

type Env = Readonly<Record<string, string | undefined>>;

export async function main(options: { env?: Env; write?: (text: string) => void } = {}): Promise<Message[]> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => void process.stdout.write(text));

  const agent = new OpenAIResponsesAgent({
    name: 'Assistant',
    instructions: 'You are a helpful assistant. Answer briefly.',
    model: { model: env['CHORUS_MODEL'] ?? 'gpt-5-mini' },
    env,
  });

  const thread = new ChatHistoryAgentThread();
  try {
    for (const input of ['What is the capital of France?', 'And its population?']) {
      write(`# user: ${input}\n# ${agent.name}: `);
      for await (const response of agent.invokeStream(input, { thread })) write(response.content);
      write('\n');
    }
    return [...thread.messages];
  } finally {
    // Deletes the responses kept server-side for this thread, then the local history.
    await thread.delete();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
