// AG-UI through a real Chorus instance, driven by @ag-ui/client's HttpAgent: a RunAgentInput whose
// threadId is new creates the thread and posts its user message; the run streams as RUN_STARTED,
// the agent's text message (with its name), its tool call and result, and RUN_FINISHED; the next
// run on the thread opens with MESSAGES_SNAPSHOT. A model failure is RUN_ERROR; an unknown team 404.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpAgent } from '@ag-ui/client';
import { EventType, type BaseEvent } from '@ag-ui/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../src/agents/tools.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { createTeamsFromConfig } from '../../src/teams/create-teams.ts';
import { toolCallScript } from '../agents/mcp-support.ts';
import { eventually, message, stored } from '../contract/store.contract.ts';
import { uniqueId } from '../gateway/thread-frames.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { chatAnswer } from '../teams/support.ts';
import { request } from './http-client.ts';

describe('AG-UI at /ag-ui', () => {
  let directory: string;
  let fake: FakeOpenAI;
  let server: TestServer;

  beforeAll(async () => {
    fake = await FakeOpenAI.start();
    directory = await mkdtemp(join(tmpdir(), 'chorus-ag-ui-'));
    const teamFile = join(directory, 'teams.yaml');
    await writeFile(
      teamFile,
      [
        'teams:',
        '  weather:',
        '    maxIterations: 1',
        '    agents:',
        '      - name: forecaster',
        '        instructions: Use your tools.',
        `        model: { provider: openai-chat, model: m, baseURL: "${fake.baseURL}", apiKeyEnv: FAKE_KEY }`,
        '        tools: [get_weather]',
        '',
      ].join('\n'),
    );
    const getWeather = defineTool({
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: z.object({ city: z.string() }),
      execute: ({ city }) => `sunny in ${city}`,
    });
    const teams = await createTeamsFromConfig(loadConfig({ CHORUS_TEAM_FILE: teamFile }), silentLogger, {
      env: { FAKE_KEY: 'sk-fake' },
      tools: [getWeather],
    });
    // Every request of this file comes from one address: room for all of them in its buckets.
    server = await startServer({ CHORUS_POST_BURST: '50', CHORUS_CREATE_BURST: '50' }, { teams });
  });

  afterAll(async () => {
    await server?.close();
    await fake?.close();
    await rm(directory, { recursive: true, force: true });
  });

  /** Runs `agent` once and returns every AG-UI event it received, and the error it ended with. */
  const runOnce = async (agent: HttpAgent) => {
    const events: BaseEvent[] = [];
    let failure: unknown;
    try {
      await agent.runAgent({ runId: uniqueId('run') }, { onEvent: ({ event }) => void events.push(event) });
    } catch (error) {
      failure = error;
    }
    return { events, failure, types: events.map((event) => event.type) };
  };

  const agentFor = (threadId: string, path = '/ag-ui') =>
    new HttpAgent({ url: `${server.url}${path}`, threadId });

  it('streams a run with a tool call: text message with the agent name, tool events, RUN_FINISHED', async () => {
    const threadId = uniqueId('agui');
    const agent = agentFor(threadId);
    fake.script(toolCallScript('get_weather', '{"city":"Paris"}', 'call_paris'), chatAnswer('It is sunny.'));
    const question = uniqueId('m');
    agent.addMessage({ id: question, role: 'user', content: 'Weather in Paris?' });
    const { events, failure, types } = await runOnce(agent);
    expect(failure).toBeUndefined();
    expect(types.slice(0, 2)).toEqual([EventType.RUN_STARTED, EventType.MESSAGES_SNAPSHOT]);
    expect(types.at(-1)).toBe(EventType.RUN_FINISHED);
    expect(events[0]).toMatchObject({ threadId });
    // The snapshot is the thread up to the post, which carries the client's id.
    expect((events[1] as unknown as { messages: unknown[] }).messages).toEqual([
      expect.objectContaining({ id: question, role: 'user', content: 'Weather in Paris?' }),
    ]);
    expect(events.find((event) => event.type === EventType.TEXT_MESSAGE_START)).toMatchObject({
      role: 'assistant',
      name: 'forecaster',
    });
    expect(events.find((event) => event.type === EventType.TOOL_CALL_START)).toMatchObject({
      toolCallId: 'call_paris',
      toolCallName: 'get_weather',
    });
    const args = events
      .filter((event) => event.type === EventType.TOOL_CALL_ARGS)
      .map((event) => event.delta as string)
      .join('');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
    expect(types).toContain(EventType.TOOL_CALL_END);
    expect(events.find((event) => event.type === EventType.TOOL_CALL_RESULT)).toMatchObject({
      toolCallId: 'call_paris',
      content: 'sunny in Paris',
    });
    const text = events
      .filter((event) => event.type === EventType.TEXT_MESSAGE_CONTENT)
      .map((event) => event.delta as string)
      .join('');
    expect(text).toBe('It is sunny.');
    expect(types).toContain(EventType.TEXT_MESSAGE_END);
    // The agent's view holds the answer; the thread's history the post and the answer.
    expect(
      agent.messages.some((message) => message.role === 'assistant' && message.content === 'It is sunny.'),
    ).toBe(true);
    const history = await request(server.url, 'GET', `/v1/threads/${threadId}/messages`);
    const items = (history.body as { items: Array<{ message: { role: string; text: string } }> }).items;
    expect(items.map((item) => [item.message.role, item.message.text])).toEqual([
      ['user', 'Weather in Paris?'],
      ['assistant', 'It is sunny.'],
    ]);

    // The next run on the thread opens with the thread's history, up to and with the new post.
    fake.script(chatAnswer('Still sunny.'));
    const followUp = uniqueId('m');
    agent.addMessage({ id: followUp, role: 'user', content: 'And now?' });
    const next = await runOnce(agent);
    expect(next.failure).toBeUndefined();
    expect(next.types.slice(0, 2)).toEqual([EventType.RUN_STARTED, EventType.MESSAGES_SNAPSHOT]);
    const snapshot = next.events[1] as unknown as {
      messages: Array<{ id: string; role: string; toolCalls?: unknown[] }>;
    };
    expect(snapshot.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'tool', 'user']);
    expect(
      snapshot.messages.filter((message) => message.role === 'user').map((message) => message.id),
    ).toEqual([question, followUp]);
    expect(next.types.at(-1)).toBe(EventType.RUN_FINISHED);
    // The client's conversation after two turns: each question before its answers, none lost.
    expect(agent.messages.map((message) => [message.role, message.content])).toEqual([
      ['user', 'Weather in Paris?'],
      ['assistant', 'It is sunny.'],
      ['tool', 'sunny in Paris'],
      ['user', 'And now?'],
      ['assistant', 'Still sunny.'],
    ]);
  });

  it('keeps each client’s conversation in the thread’s order when others post on the thread too', async () => {
    const threadId = uniqueId('agui-two');
    const [ada, bob] = [agentFor(threadId), agentFor(threadId)];
    const ask = async (agent: HttpAgent, text: string, answer: string) => {
      fake.script(chatAnswer(answer));
      agent.addMessage({ id: uniqueId('m'), role: 'user', content: text });
      const { failure } = await runOnce(agent);
      expect(failure).toBeUndefined();
    };
    await ask(ada, 'Ada asks', 'Answer one.');
    // Bob holds only his question: HttpAgent kept it first and put Ada's turn after it.
    await ask(bob, 'Bob asks', 'Answer two.');
    // Ada holds her turn and her new question: Bob's turn went after it.
    await ask(ada, 'Ada again', 'Answer three.');
    const thread = [
      ['user', 'Ada asks'],
      ['assistant', 'Answer one.'],
      ['user', 'Bob asks'],
      ['assistant', 'Answer two.'],
      ['user', 'Ada again'],
      ['assistant', 'Answer three.'],
    ];
    expect(ada.messages.map((message) => [message.role, message.content])).toEqual(thread);
    expect(bob.messages.map((message) => [message.role, message.content])).toEqual(thread.slice(0, 4));
  });

  it('a retried request posts nothing twice', async () => {
    const threadId = uniqueId('agui');
    const messageId = uniqueId('m');
    fake.script(chatAnswer('Once.'));
    const first = agentFor(threadId);
    first.addMessage({ id: messageId, role: 'user', content: 'Say it once' });
    expect((await runOnce(first)).types.at(-1)).toBe(EventType.RUN_FINISHED);
    const retry = agentFor(threadId);
    retry.addMessage({ id: messageId, role: 'user', content: 'Say it once' });
    const again = await runOnce(retry);
    expect(again.types).toEqual([EventType.RUN_STARTED, EventType.MESSAGES_SNAPSHOT, EventType.RUN_FINISHED]);
    const history = await request(server.url, 'GET', `/v1/threads/${threadId}/messages`);
    expect((history.body as { items: unknown[] }).items).toHaveLength(2);
  });

  it('a retry of a post whose run was cancelled is answered at once', async () => {
    const threadId = uniqueId('agui');
    const messageId = uniqueId('m');
    // The model never answers; the run is cancelled while it waits.
    fake.script({ fixture: 'chat-text', stallAfter: 0 });
    const first = agentFor(threadId);
    first.addMessage({ id: messageId, role: 'user', content: 'Take your time' });
    const running = runOnce(first);
    const cancel = await eventually('a run to cancel', async () => {
      const reply = await request(server.url, 'POST', `/v1/threads/${threadId}/cancel`);
      return (reply.body as { runId?: string | null }).runId ? reply : null;
    });
    expect(cancel.status).toBe(200);
    expect((await running).types.at(-1)).toBe(EventType.RUN_FINISHED);
    const retry = agentFor(threadId);
    retry.addMessage({ id: messageId, role: 'user', content: 'Take your time' });
    const again = await runOnce(retry);
    expect(again.types).toEqual([EventType.RUN_STARTED, EventType.MESSAGES_SNAPSHOT, EventType.RUN_FINISHED]);
  });

  it('a retry of a post whose run ended storing nothing (its instance died early) is answered, not left waiting', async () => {
    const threadId = uniqueId('agui');
    const messageId = uniqueId('m');
    // The post and its run as another instance would have left them: the run ended (recovered,
    // interrupted) before any message of it was stored.
    const store = server.app.store;
    await store.createThread({ threadId, team: 'weather' });
    const posted = stored(
      await store.post({
        threadId,
        message: message(messageId, { text: 'Lost early', clientMessageId: messageId }),
        team: 'weather',
        multitask: 'queue',
        queueMax: 8,
        start: { owner: 'another-instance', leaseMs: 60_000, runId: uniqueId('run'), contextLimit: 10 },
      }),
    );
    const run = posted.run!;
    await store.finishRun(run.lease, run.runId, { reason: 'interrupted' }, null);
    const retry = agentFor(threadId, '/ag-ui/weather');
    retry.addMessage({ id: messageId, role: 'user', content: 'Lost early' });
    const again = await runOnce(retry);
    expect(again.types).toEqual([EventType.RUN_STARTED, EventType.MESSAGES_SNAPSHOT, EventType.RUN_FINISHED]);
  });

  it('a model failure is RUN_ERROR', async () => {
    const agent = agentFor(uniqueId('agui'), '/ag-ui/weather');
    fake.script({ status: 400, body: { error: { message: 'bad request', type: 'invalid_request_error' } } });
    agent.addMessage({ id: uniqueId('m'), role: 'user', content: 'Fail please' });
    const { events, types } = await runOnce(agent);
    expect(types[0]).toBe(EventType.RUN_STARTED);
    expect(types.at(-1)).toBe(EventType.RUN_ERROR);
    expect(events.at(-1)).toMatchObject({ code: 'failed', message: expect.any(String) });
  });

  it('an unknown team is 404 not-found; bad input 400', async () => {
    const input = {
      threadId: uniqueId('agui'),
      runId: 'r1',
      messages: [],
      tools: [],
      context: [],
      state: {},
    };
    const unknown = await request(server.url, 'POST', '/ag-ui/nope', { body: input });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ code: 'not-found', message: 'unknown team "nope"', retryable: false });
    const bad = await request(server.url, 'POST', '/ag-ui', { body: { threadId: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'bad-frame', retryable: false });
  });
});
