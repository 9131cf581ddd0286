// Group chats of real model agents on the fake server, told as short stories: a stream cut
// mid-message, a run cancelled mid-message.
import { afterEach, beforeEach, expect, test } from 'vitest';
import { Agent } from '../../src/agents/agent.ts';
import {
  GroupChat,
  RunAbort,
  SequentialSelection,
  TextMentionTermination,
  type GroupChatEvent,
} from '../../src/agents/group-chat.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { OpenAIResponsesModel } from '../../src/agents/openai-responses-model.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { drain, userMessage, within } from './support.ts';

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await FakeOpenAI.start();
});
afterEach(async () => {
  await fake.close();
});

function team(): GroupChat {
  return new GroupChat({
    agents: [
      new Agent({
        name: 'planner',
        instructions: 'Plan.',
        model: new OpenAIChatModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' }),
      }),
      new Agent({
        name: 'writer',
        instructions: 'Write.',
        model: new OpenAIResponsesModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm' }),
      }),
    ],
    selection: new SequentialSelection(),
    termination: new TextMentionTermination({ text: 'APPROVED' }),
    maxIterations: 4,
  });
}

function ends(events: readonly GroupChatEvent[]) {
  return events.flatMap((event) => (event.type === 'message-end' ? [event.message] : []));
}

test('a stream cut mid-message is stored as failed with its partial text; the run ends failed', async () => {
  fake.script({ fixture: 'chat-text' }, { fixture: 'responses-failed' });
  const { events, error } = await drain(
    team().run({
      history: [userMessage('Write a haiku')],
      signal: new AbortController().signal,
      conversationKey: 'thread-9',
    }),
  );
  expect(error).toBeUndefined();
  const [planned, written] = ends(events);
  expect(planned).toMatchObject({ author: 'planner', status: 'completed', text: 'Hello from Chorus.' });
  expect(planned!.usage).toEqual({ inputTokens: 42, outputTokens: 4, totalTokens: 46 });
  expect(written).toMatchObject({
    author: 'writer',
    status: 'failed',
    text: 'Partial answer',
    error: { code: 'server-error' },
  });
  expect(events.at(-1)).toMatchObject({ type: 'run-end', reason: 'failed', detail: 'server-error' });

  // The writer saw the planner's message (as another agent's, prefixed).
  const [, writerRequest] = await fake.waitForRequests(2);
  expect((writerRequest!.body as { input: unknown[] }).input).toEqual([
    { type: 'message', role: 'user', content: 'Write a haiku' },
    { type: 'message', role: 'user', content: '[planner]: Hello from Chorus.' },
  ]);
});

test('a socket cut after tokens on Chat Completions: failed, partial text, code connection', async () => {
  fake.script({ fixture: 'chat-long-text', cutAfter: 5 });
  const { events } = await drain(
    team().run({ history: [userMessage('Go')], signal: new AbortController().signal }),
  );
  const [planned] = ends(events);
  expect(planned).toMatchObject({
    status: 'failed',
    text: 'One two three four',
    error: { code: 'connection' },
  });
  expect(events.at(-1)).toMatchObject({ type: 'run-end', reason: 'failed', detail: 'connection' });
});

test('cancel mid-message aborts the HTTP request and stores the partial message as cancelled', async () => {
  fake.script({ fixture: 'chat-long-text', stallAfter: 3 });
  const controller = new AbortController();
  const events: GroupChatEvent[] = [];
  const run = (async () => {
    for await (const event of team().run({ history: [userMessage('Go')], signal: controller.signal })) {
      events.push(event);
      if (event.type === 'message-delta' && event.delta.text === ' two')
        controller.abort(new RunAbort('cancelled'));
    }
  })();
  await within(run, 'the run to end after cancel');
  expect(ends(events)[0]).toMatchObject({ status: 'cancelled', text: 'One two' });
  expect(events.at(-1)).toMatchObject({ type: 'run-end', reason: 'cancelled' });
  const [sent] = await fake.waitForRequests(1);
  await within(sent!.closed, 'the fake server to see the request end');
  expect(sent!.aborted).toBe(true);
});
