// A streaming AgentGroupChat with an approval termination strategy (the seed's group chat
// example): a copywriter and an art director take turns until the art director approves.
//
//   node examples/group-chat-approval.ts
//
// With OPENAI_API_KEY (and optionally OPENAI_BASE_URL, CHORUS_MODEL) set the agents run on that
// Chat Completions endpoint; without, on the local demo model (whose reviewer approves on its
// second review).
import { pathToFileURL } from 'node:url';
import {
  AgentGroupChat,
  ChatCompletionAgent,
  type Message,
  type ModelSpec,
  type TerminationContext,
  type TerminationDecision,
  type TerminationStrategy,
} from '../src/index.ts';

type Env = Readonly<Record<string, string | undefined>>;

export function modelFromEnv(env: Env): ModelSpec {
  return env['OPENAI_API_KEY'] ? { provider: 'openai-chat' } : { provider: 'demo' };
}

/** Ends the chat when one of `agents` says "approved" (the seed's ApprovalTerminationStrategy). */
class ApprovalTerminationStrategy implements TerminationStrategy {
  private readonly agents: readonly string[];
  constructor(options: { agents: readonly string[] }) {
    this.agents = options.agents;
  }
  shouldTerminate({ agent, message }: TerminationContext): TerminationDecision {
    const approved = this.agents.includes(agent.name) && message.text.toLowerCase().includes('approved');
    return {
      terminate: approved,
      detail: 'approval',
      explanation: approved ? `${agent.name} approved` : `${agent.name} did not approve`,
    };
  }
}

const REVIEWER_NAME = 'ArtDirector';
const COPYWRITER_NAME = 'CopyWriter';

export interface GroupChatResult {
  messages: Message[];
  isComplete: boolean;
  /** The agent names in the order the stream showed them. */
  speakers: string[];
}

export async function main(
  options: { env?: Env; write?: (text: string) => void } = {},
): Promise<GroupChatResult> {
  const env = options.env ?? process.env;
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const model = modelFromEnv(env);

  const agentReviewer = new ChatCompletionAgent({
    name: REVIEWER_NAME,
    instructions:
      'You are an art director who has opinions about copywriting born of a love for David Ogilvy. ' +
      'The goal is to determine if the given copy is acceptable to print. If so, state that it is APPROVED. ' +
      'If not, provide insight on how to refine suggested copy without example.',
    model,
    env,
  });
  const agentWriter = new ChatCompletionAgent({
    name: COPYWRITER_NAME,
    instructions:
      'You are a copywriter with ten years of experience and are known for brevity and a dry humor. ' +
      'The goal is to refine and decide on the single best copy as an expert in the field. ' +
      'Only provide a single proposal per response. Consider suggestions when refining an idea.',
    model,
    env,
  });

  const chat = new AgentGroupChat({
    agents: [agentWriter, agentReviewer],
    terminationStrategy: new ApprovalTerminationStrategy({ agents: [REVIEWER_NAME] }),
    maximumIterations: 10,
  });

  const input = 'a slogan for a new line of electric cars.';
  chat.addChatMessage(input);
  write(`# user: ${input}\n`);

  const speakers: string[] = [];
  let lastAgent: string | undefined;
  for await (const item of chat.invokeStream()) {
    if (item.agentName !== lastAgent) {
      write(`${lastAgent === undefined ? '' : '\n'}# ${item.agentName}: `);
      lastAgent = item.agentName;
      speakers.push(item.agentName);
    }
    write(item.content);
  }
  write(`\n\nComplete: ${chat.isComplete}\n`);

  const result = { messages: chat.getChatMessages(), isComplete: chat.isComplete, speakers };
  await chat.reset();
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
