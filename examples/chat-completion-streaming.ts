// Streaming a ChatCompletionAgent (the seed's first example, "How to Stream Agent Responses").
//
//   node examples/chat-completion-streaming.ts
//
// With OPENAI_API_KEY (and optionally OPENAI_BASE_URL, CHORUS_MODEL) set it talks to that
// Chat Completions endpoint; without, to the local demo model.
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import {
  ChatCompletionAgent,
  ChatHistoryAgentThread,
  defineTool,
  type Message,
  type ModelSpec,
} from '../src/index.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Chat Completions when a key is configured, else the demo model. */
export function modelFromEnv(env: Env): ModelSpec {
  return env['OPENAI_API_KEY'] ? { provider: 'openai-chat' } : { provider: 'demo' };
}

// A tool the agent may call (the seed's menu plugin).
const getSpecials = defineTool({
  name: 'get_specials',
  description: "Today's specials on the menu.",
  parameters: z.object({}),
  execute: () => 'Special soup: clam chowder. Special salad: cobb salad. Special drink: chai tea.',
});

export async function main(options: { env?: Env; write?: (text: string) => void } = {}): Promise<Message[]> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => void process.stdout.write(text));

  const agent = new ChatCompletionAgent({
    name: 'Host',
    instructions: 'Answer questions about the menu.',
    model: modelFromEnv(env),
    tools: [getSpecials],
    env,
  });

  // No thread yet: the first call makes one; each item carries it.
  let thread: ChatHistoryAgentThread | undefined;
  for (const input of ['Hello', 'What is the special soup?']) {
    write(`# user: ${input}\n`);
    let first = true;
    for await (const response of agent.invokeStream(input, { thread })) {
      if (first) {
        write(`# ${response.agentName}: `);
        first = false;
      }
      write(response.content);
      thread = response.thread;
    }
    write('\n');
  }

  // The thread holds every finished message (history is updated after the full response).
  const messages: Message[] = [];
  if (thread) {
    for await (const message of thread.getMessages()) messages.push(message);
    await thread.delete();
  }
  return messages;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
