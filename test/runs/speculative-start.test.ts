// The speculative start (src/runs/speculative-turn.ts): a post's run calls the model while the post
// is still on its way to the store, when the instance holds the thread's whole context. Each test
// holds the post's store step (the fault injector) and shows what may and may not happen meanwhile:
// the model is called, nothing is published, no tool runs; and when the post does not start the run
// here with exactly that context, the early turn is aborted and nobody sees what it made.
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { Agent } from '../../src/agents/agent.ts';
import type { ModelClient, ModelEvent, ModelTurnRequest } from '../../src/agents/model-client.ts';
import { defineTool } from '../../src/agents/tools.ts';
import type { TeamRegistry } from '../../src/teams/team.ts';
import { z } from 'zod';
import type { TestServer } from '../support/server.ts';
import type { TestClient } from '../support/ws-client.ts';
import {
  createThread,
  post,
  readHistory,
  subscribe,
  threadEvents,
  uniqueId,
} from '../gateway/thread-frames.ts';
import { answeredPosts, teamOfOne, WindowInstances, type StoreKind, type WindowInstance } from './support.ts';

const redisUrl = inject('redisUrl');

type Instance = WindowInstance;

async function speculativeTurns(server: TestServer): Promise<{ used: number; discarded: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const count = (outcome: string) =>
    Number(
      new RegExp(`^chorus_speculative_turns_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ??
        0,
    );
  return { used: count('used'), discarded: count('discarded') };
}

/** A subscribed participant on a thread whose first post `one` has been answered and whose run is over. */
async function answeredThread(instances: WindowInstances, on: WindowInstance) {
  const client = await instances.open(on);
  const threadId = await createThread(client);
  await subscribe(client, threadId);
  await post(client, threadId, 'one');
  await client.waitFor('run-end', () => true, 10_000);
  await vi.waitFor(() => expect(on.server.app.runs.activeRuns).toBe(0), { timeout: 5000, interval: 5 });
  return { client, threadId };
}

function sendPost(client: TestClient, threadId: string, text: string) {
  const requestId = uniqueId('req');
  client.send({ type: 'post', requestId, threadId, clientMessageId: uniqueId('post'), text });
  return client.waitFor('posted', (frame) => frame.requestId === requestId, 10_000);
}

describe.each<StoreKind>(['memory', 'redis'])('speculative start on the %s store', (kind) => {
  const instances = new WindowInstances(kind, redisUrl);
  afterEach(() => instances.close());
  const instance = (options?: Parameters<WindowInstances['instance']>[0]) => instances.instance(options);
  const open = (on: Instance, user?: string) => instances.open(on, user);

  it('calls the model while the post is being stored and publishes nothing before it is', async () => {
    const chorus = await instance();
    const { client, threadId } = await answeredThread(instances, chorus);
    const storing = chorus.faults.inject('post', 'pause-before');
    const posted = sendPost(client, threadId, 'two');
    await storing.reached;
    // The post has not reached the store, and the model has been called with the run's context.
    await chorus.model.called(2);
    expect(chorus.model.contexts.at(-1)).toEqual(['one', 'reply to: one', 'two']);
    const before = threadEvents(client.frames, threadId).length;
    storing.release();
    const { messageId } = await posted;
    const runEnd = await client.waitFor(
      'run-end',
      (frame) => frame.runId !== undefined && frame.reason === 'terminated',
      10_000,
    );
    const events = threadEvents(client.frames, threadId).slice(before);
    // In the protocol's order: the post, its run, the message streamed from its start.
    expect(
      events.map((event) => event.type).filter((type, index, all) => all.indexOf(type) === index),
    ).toEqual(['message', 'run-start', 'message-start', 'message-delta', 'message-end', 'run-end']);
    expect(answeredPosts(client.frames).get(messageId)).toEqual([runEnd.runId]);
    const history = await readHistory(client, threadId);
    expect(history.map((item) => item.text)).toEqual(['one', 'reply to: one', 'two', 'reply to: two']);
    expect(chorus.model.contexts).toHaveLength(2);
    expect(await speculativeTurns(chorus.server)).toEqual({ used: 1, discarded: 0 });
  });

  it('aborts the early turn when the post is queued behind a run that started meanwhile', async () => {
    const chorus = await instance();
    const { client, threadId } = await answeredThread(instances, chorus);
    const other = await open(chorus, 'grace');
    // `two` is held before the store, its turn started; `three` (not speculated: one at a time)
    // reaches the store first and starts the run; `two` then waits in the queue.
    const storing = chorus.faults.inject('post', 'pause-before');
    const two = sendPost(client, threadId, 'two');
    await storing.reached;
    await chorus.model.called(2);
    const three = await post(other, threadId, 'three');
    storing.release();
    const queued = await two;
    expect(queued.queued).toBe(true);
    await vi.waitFor(() => expect(chorus.model.stopped).toBe(1), { timeout: 5000, interval: 5 });
    const threeRun = answeredPosts(client.frames);
    await client.waitFor(
      'run-end',
      (frame) => answeredPosts(client.frames).get(queued.messageId)?.includes(frame.runId) ?? false,
      10_000,
    );
    expect(threeRun.get(three.messageId)).toHaveLength(1);
    const history = await readHistory(client, threadId);
    // `two` was stored while the reply to `three` streamed (it waited in the queue).
    expect(history.map((item) => item.text)).toEqual([
      'one',
      'reply to: one',
      'three',
      'two',
      'reply to: three',
      'reply to: two',
    ]);
    // The turns that ran to the end (three, then two) had the contexts the store gave them.
    expect(chorus.model.contexts.slice(-2)).toEqual([
      ['one', 'reply to: one', 'three'],
      ['one', 'reply to: one', 'three', 'two', 'reply to: three'],
    ]);
    // Nobody saw the early turn: every delta a viewer got belongs to a stored reply.
    const replies = history.filter((item) => item.role === 'assistant').map((item) => item.id);
    for (const event of threadEvents(client.frames, threadId)) {
      if (event.type === 'message-start') expect(replies).toContain(event.messageId);
    }
    expect(await speculativeTurns(chorus.server)).toEqual({ used: 0, discarded: 1 });
  });

  it('runs no tool before the post is stored, and none for an early turn that is discarded', async () => {
    let toolRuns = 0;
    const chorus = await instance({
      teams: () => toolTeam(() => (toolRuns += 1)),
    });
    const { client, threadId } = await answeredThread(instances, chorus);
    expect(toolRuns).toBe(1);
    const other = await open(chorus, 'grace');
    // The poster's events wait for its `posted`: the other participant watches meanwhile.
    await subscribe(other, threadId);
    const storing = chorus.faults.inject('post', 'pause-before');
    const two = sendPost(client, threadId, 'two');
    await storing.reached;
    // While `two` waits, `three` is stored and its whole run (a tool call, its result, the reply)
    // goes through: a greedy early turn for `two` would have run its tool meanwhile.
    const three = await post(other, threadId, 'three');
    const threeRun = await other.waitFor(
      'run-end',
      (frame) => answeredPosts(other.frames).get(three.messageId)?.includes(frame.runId) ?? false,
      10_000,
    );
    expect(threeRun.reason).toBe('terminated');
    expect(toolRuns).toBe(2);
    storing.release();
    const queued = await two;
    await client.waitFor(
      'run-end',
      (frame) => answeredPosts(client.frames).get(queued.messageId)?.includes(frame.runId) ?? false,
      10_000,
    );
    expect(toolRuns).toBe(3);
    expect(await speculativeTurns(chorus.server)).toEqual({ used: 0, discarded: 1 });
  });

  it('does not speculate for a thread without a viewer on the instance, nor when turned off', async () => {
    const chorus = await instance();
    const { client, threadId } = await answeredThread(instances, chorus);
    await client.request({ type: 'unsubscribe', threadId }, 'unsubscribed');
    const storing = chorus.faults.inject('post', 'pause-before');
    const posted = sendPost(client, threadId, 'two');
    await storing.reached;
    // Without a live view of the thread the instance cannot know its context is whole.
    expect(chorus.model.contexts).toHaveLength(1);
    storing.release();
    await posted;
    await vi.waitFor(() => expect(chorus.model.contexts).toHaveLength(2), { timeout: 5000, interval: 5 });
    expect(await speculativeTurns(chorus.server)).toEqual({ used: 0, discarded: 0 });

    const off = await instance({ env: { CHORUS_SPECULATIVE_START: '0' } });
    const offThread = await answeredThread(instances, off);
    const offStoring = off.faults.inject('post', 'pause-before');
    const offPosted = sendPost(offThread.client, offThread.threadId, 'two');
    await offStoring.reached;
    expect(off.model.contexts).toHaveLength(1);
    offStoring.release();
    await offPosted;
    await offThread.client.waitFor('run-end', (frame) => frame.runId !== undefined, 10_000);
    expect(await speculativeTurns(off.server)).toEqual({ used: 0, discarded: 0 });
  });
});

describe('speculative start across instances on Redis', () => {
  const instances = new WindowInstances('redis', redisUrl);
  afterEach(() => instances.close());
  const open = (on: Instance, user?: string) => instances.open(on, user);
  const instance = (options?: Parameters<WindowInstances['instance']>[0]) => instances.instance(options);

  it('starts over with the stored context when another instance answered a post meanwhile', async () => {
    const prefix = instances.newPrefix('speculative');
    const a = await instance({ prefix });
    const b = await instance({ prefix });
    const { client, threadId } = await answeredThread(instances, a);
    const onB = await open(b, 'grace');
    await subscribe(onB, threadId);
    const storing = a.faults.inject('post', 'pause-before');
    const two = sendPost(client, threadId, 'two');
    await storing.reached;
    await a.model.called(2);
    // A whole run on B (post `three`, its reply) while A's post waits: A's context is stale.
    const three = await post(onB, threadId, 'three');
    await onB.waitFor(
      'run-end',
      (frame) => answeredPosts(onB.frames).get(three.messageId)?.includes(frame.runId) ?? false,
      10_000,
    );
    storing.release();
    const posted = await two;
    expect(posted.queued).toBe(false);
    await client.waitFor(
      'run-end',
      (frame) => answeredPosts(client.frames).get(posted.messageId)?.includes(frame.runId) ?? false,
      10_000,
    );
    expect(a.model.stopped).toBe(1);
    expect(a.model.contexts.at(-1)).toEqual(['one', 'reply to: one', 'three', 'reply to: three', 'two']);
    const history = await readHistory(client, threadId);
    expect(history.map((item) => item.text)).toEqual([
      'one',
      'reply to: one',
      'three',
      'reply to: three',
      'two',
      'reply to: two',
    ]);
    expect(await speculativeTurns(a.server)).toEqual({ used: 0, discarded: 1 });
  });
});

/** A team whose one agent calls the `note` tool once per turn, then answers. */
function toolTeam(onTool: () => void): TeamRegistry {
  const model: ModelClient = {
    id: 'tool-caller',
    async *stream(request: ModelTurnRequest): AsyncGenerator<ModelEvent> {
      const called = request.turnParts?.some((part) => part.type === 'tool-result') ?? false;
      if (!called) {
        const toolCallId = `call-${request.messages.length}`;
        yield { type: 'delta', delta: { toolCall: { toolCallId, name: 'note', arguments: '{}' } } };
        yield { type: 'finish', reason: 'tool-calls' };
        return;
      }
      yield { type: 'delta', delta: { text: 'noted' } };
      yield { type: 'finish', reason: 'stop' };
    },
  };
  const agent = new Agent({
    name: 'solo',
    description: 'notes',
    instructions: 'Note, then answer.',
    model,
    tools: [
      defineTool({
        name: 'note',
        description: 'notes something',
        parameters: z.object({}),
        execute: () => {
          onTool();
          return 'ok';
        },
      }),
    ],
  });
  return teamOfOne(agent, model);
}
