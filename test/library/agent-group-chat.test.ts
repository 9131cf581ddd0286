// The library's AgentGroupChat and ChatCompletionAgent: SK's semantics (isComplete only on
// termination, reset deletes remote state, one invocation at a time), history after the full
// response, cut-short messages kept with their status.
import { describe, expect, it } from 'vitest';
import { RunAbort } from '../../src/agents/group-chat.ts';
import { ModelError, type ModelClient, type ModelEvent } from '../../src/agents/model-client.ts';
import { SequentialSelection } from '../../src/agents/selection/sequential.ts';
import { TextMentionTermination } from '../../src/agents/termination/text-mention.ts';
import {
  AgentGroupChat,
  AgentInvokeError,
  ChatCompletionAgent,
  ChatHistoryAgentThread,
  OpenAIResponsesAgent,
  type StreamingChatItem,
} from '../../src/library/index.ts';
import { createDemoTeam } from '../../src/teams/team.ts';
import { HangingModel, ScriptedModel } from '../teams/support.ts';

function agent(name: string, model: ModelClient): ChatCompletionAgent {
  return new ChatCompletionAgent({ name, instructions: `You are ${name}.`, model });
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

const approving = () =>
  new ScriptedModel([(request) => (request.agent.name === 'reviewer' ? 'Good. APPROVED' : 'A draft.')]);

describe('ChatCompletionAgent', () => {
  it('streams items with agentName, role, content, delta and thread; the thread then holds the message', async () => {
    const host = agent('Host', new ScriptedModel(['Hello there.']));
    const items = await collect(host.invokeStream('Hi'));
    expect(items.map((item) => item.content).join('')).toBe('Hello there.');
    expect(items[0]).toMatchObject({
      agentName: 'Host',
      role: 'assistant',
      content: 'He',
      delta: { text: 'He' },
    });
    const thread = items[0]!.thread;
    expect(items.every((item) => item.thread === thread && item.messageId === items[0]!.messageId)).toBe(
      true,
    );
    const messages = await collect(thread.getMessages());
    expect(messages.map((message) => [message.role, message.author, message.text, message.status])).toEqual([
      ['user', 'user', 'Hi', 'completed'],
      ['assistant', 'Host', 'Hello there.', 'completed'],
    ]);
    expect(messages[1]?.id).toBe(items[0]!.messageId);
  });

  it('continues a thread and passes the whole history to the model', async () => {
    const model = new ScriptedModel(['one', 'two']);
    const host = agent('Host', model);
    const thread = new ChatHistoryAgentThread();
    await collect(host.invokeStream({ role: 'user', content: 'first', name: 'ada' }, { thread }));
    const { message } = await host.getResponse('second', { thread });
    expect(message).toMatchObject({ author: 'Host', text: 'two' });
    expect(model.requests[1]?.messages.map((entry) => `${entry.author}:${entry.text}`)).toEqual([
      'ada:first',
      'Host:one',
      'user:second',
    ]);
    expect(model.requests[1]?.conversationKey).toBe(thread.id);
    expect(thread.messages).toHaveLength(4);
  });

  it('invoke yields the finished response', async () => {
    const responses = await collect(agent('Host', new ScriptedModel(['Done.'])).invoke('go'));
    expect(responses.map((response) => response.message.text)).toEqual(['Done.']);
  });

  it('a model failure keeps the failed message in the thread, then throws AgentInvokeError', async () => {
    const failing: ModelClient = {
      id: 'failing',
      async *stream(): AsyncGenerator<ModelEvent> {
        yield { type: 'delta', delta: { text: 'Half' } };
        throw new ModelError('rate-limited', 'slow down', true);
      },
    };
    const thread = new ChatHistoryAgentThread();
    const error = await collect(agent('Host', failing).invokeStream('go', { thread })).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AgentInvokeError);
    expect(error).toMatchObject({ code: 'rate-limited', agentName: 'Host' });
    expect(thread.messages.at(-1)).toMatchObject({
      status: 'failed',
      text: 'Half',
      error: { code: 'rate-limited' },
    });
  });

  it('an aborted signal keeps the cut-short message as cancelled, then throws the reason', async () => {
    const controller = new AbortController();
    const thread = new ChatHistoryAgentThread();
    const stream = agent('Host', new HangingModel()).invokeStream('go', {
      thread,
      signal: controller.signal,
    });
    const seen: StreamingChatItem[] = [];
    const error = await (async () => {
      for await (const item of stream) {
        seen.push(item);
        controller.abort(new RunAbort('cancelled'));
      }
    })().catch((caught: unknown) => caught);
    expect(seen.map((item) => item.content)).toEqual(['partial']);
    expect(error).toBeInstanceOf(RunAbort);
    expect(thread.messages.at(-1)).toMatchObject({ author: 'Host', status: 'cancelled', text: 'partial' });
  });

  it('thread.delete() deletes the remote conversation of every model that served it; the thread is then unusable', async () => {
    const model = new ScriptedModel(['ok']);
    const assistant = new OpenAIResponsesAgent({ name: 'Assistant', instructions: 'Help.', model });
    const thread = new ChatHistoryAgentThread({ id: 'thread-1' });
    expect(await thread.create()).toBe('thread-1');
    await assistant.getResponse('hello', { thread });
    await thread.delete();
    expect(model.deleted).toEqual(['thread-1']);
    expect(thread.isDeleted).toBe(true);
    expect(thread.messages).toEqual([]);
    await expect(assistant.getResponse('again', { thread })).rejects.toThrow(/thread thread-1 was deleted/);
    await thread.delete(); // a second delete is harmless
    expect(model.deleted).toEqual(['thread-1']);
  });

  it('takes a model spec and builds it with the model factory', () => {
    const demo = new ChatCompletionAgent({
      name: 'Host',
      instructions: 'Help.',
      model: { provider: 'demo' },
    });
    expect(demo.model.id).toBe('demo');
    expect(
      () =>
        new ChatCompletionAgent({
          name: 'Host',
          instructions: 'Help.',
          model: { provider: 'openai-chat' },
          env: {},
        }),
    ).toThrow(/API key is missing/);
    const responses = new OpenAIResponsesAgent({
      name: 'A',
      instructions: 'Help.',
      model: { model: 'gpt-test' },
      env: { OPENAI_API_KEY: 'k' },
    });
    expect(responses.model.id).toContain('gpt-test');
  });
});

describe('AgentGroupChat', () => {
  it('yields items whose agentName changes with the author, and keeps finished messages only', async () => {
    const model = approving();
    const chat = new AgentGroupChat({
      agents: [agent('writer', model), agent('reviewer', model)],
      terminationStrategy: new TextMentionTermination({ text: 'APPROVED', agents: ['reviewer'] }),
    });
    chat.addChatMessage('Write a slogan');
    const items = await collect(chat.invokeStream());
    const authors = items.map((item) => item.agentName).filter((name, index, all) => name !== all[index - 1]);
    expect(authors).toEqual(['writer', 'reviewer']);
    expect(chat.getChatMessages().map((message) => `${message.author}: ${message.text}`)).toEqual([
      'user: Write a slogan',
      'writer: A draft.',
      'reviewer: Good. APPROVED',
    ]);
    expect(chat.isComplete).toBe(true);
    expect(chat.lastOutcome).toEqual({
      reason: 'terminated',
      detail: 'approval',
      explanation: 'reviewer wrote "APPROVED"',
    });
  });

  it('isComplete stays false when the cap ends the run (as SK)', async () => {
    const chat = new AgentGroupChat({
      agents: [agent('writer', new ScriptedModel(['draft'])), agent('reviewer', new ScriptedModel(['more']))],
      terminationStrategy: new TextMentionTermination({ text: 'APPROVED' }),
      maximumIterations: 3,
    });
    chat.addChatMessage('go');
    await collect(chat.invokeStream());
    expect(chat.isComplete).toBe(false);
    expect(chat.lastOutcome?.reason).toBe('max-iterations');
    expect(chat.getChatMessages()).toHaveLength(4);
    // Not complete: it may run again, and the round robin carries on.
    const again = await collect(chat.invoke());
    expect(again.map((message) => message.author)).toEqual(['reviewer', 'writer', 'reviewer']);
  });

  it('a complete chat refuses to run until reset, unless automaticReset', async () => {
    const model = approving();
    const make = (automaticReset: boolean) =>
      new AgentGroupChat({
        agents: [agent('writer', model), agent('reviewer', model)],
        terminationStrategy: new TextMentionTermination({ text: 'APPROVED' }),
        automaticReset,
        messages: ['Write a slogan'],
      });
    const strict = make(false);
    await collect(strict.invokeStream());
    expect(strict.isComplete).toBe(true);
    await expect(collect(strict.invokeStream())).rejects.toThrow(/the chat is complete/);

    const automatic = make(true);
    await collect(automatic.invokeStream());
    automatic.addChatMessage('Another one');
    await collect(automatic.invokeStream());
    expect(automatic.getChatMessages().filter((message) => message.author === 'reviewer')).toHaveLength(2);
  });

  it('reset() clears history, completion and strategies, and deletes remote conversation state', async () => {
    const model = approving();
    const chat = new AgentGroupChat({
      agents: [agent('writer', model), agent('reviewer', model)],
      selectionStrategy: new SequentialSelection({ initialAgent: 'writer' }),
      terminationStrategy: new TextMentionTermination({ text: 'APPROVED' }),
    });
    chat.addChatMessage('go');
    const key = chat.id;
    await collect(chat.invokeStream());
    await chat.reset();
    expect(chat.getChatMessages()).toEqual([]);
    expect(chat.isComplete).toBe(false);
    expect(chat.lastOutcome).toBeUndefined();
    expect(model.deleted).toEqual([key]);
    expect(chat.id).not.toBe(key);
    chat.addChatMessage('again');
    const messages = await collect(chat.invoke());
    expect(messages.map((message) => message.author)).toEqual(['writer', 'reviewer']);
    expect(model.requests.at(-1)?.conversationKey).toBe(chat.id);
  });

  it('one invocation at a time', async () => {
    const chat = new AgentGroupChat({ agents: [agent('writer', new HangingModel())] });
    chat.addChatMessage('go');
    const controller = new AbortController();
    const first = chat.invokeStream({ signal: controller.signal });
    await first.next();
    await expect(collect(chat.invokeStream())).rejects.toThrow(
      /Unable to proceed while another agent is active/,
    );
    await expect(chat.reset()).rejects.toThrow(/Unable to reset/);
    controller.abort(new RunAbort('cancelled'));
    await expect(first.next()).rejects.toBeInstanceOf(RunAbort);
    expect(chat.getChatMessages().at(-1)).toMatchObject({ status: 'cancelled' });
    await chat.reset();
  });

  it('invokeStream({ agent }) runs one turn of that agent', async () => {
    const reviewer = agent('reviewer', new ScriptedModel(['Looks fine.']));
    const chat = new AgentGroupChat({
      agents: [agent('writer', new ScriptedModel(['draft'])), reviewer],
      messages: ['go'],
    });
    const items = await collect(chat.invokeStream({ agent: reviewer }));
    expect(new Set(items.map((item) => item.agentName))).toEqual(new Set(['reviewer']));
    expect(chat.getChatMessages().map((message) => message.author)).toEqual(['user', 'reviewer']);
    expect(chat.isComplete).toBe(false);
  });

  it('fromTeam runs the team the server runs', async () => {
    const chat = AgentGroupChat.fromTeam(createDemoTeam({ tokensPerSecond: 0, maxIterations: 8 }));
    expect(chat.agents.map((entry) => entry.name)).toEqual(['planner', 'writer', 'reviewer']);
    expect(chat.maximumIterations).toBe(8);
    chat.addChatMessage('Plan a picnic');
    const messages = await collect(chat.invoke());
    expect(messages.map((message) => message.author)).toEqual([
      'planner',
      'writer',
      'reviewer',
      'planner',
      'writer',
      'reviewer',
    ]);
    expect(chat.isComplete).toBe(true);
  });
});
