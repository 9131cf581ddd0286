// Story: an operator deploys, and the instance gets SIGTERM mid-message. With a short drain the
// message streaming at that moment is stored `interrupted` and every viewer is told (message-end,
// run-end) before the server closes their socket with 1001. With a long drain the message
// finishes normally first, the run starts no further turn, and the process exits 0.
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { spawnServer, type SpawnedServer } from '../support/server.ts';
import {
  createThread,
  expectDeltasAddUp,
  post,
  streamedMessages,
  subscribe,
  threadEvents,
} from './thread-frames.ts';

describe('SIGTERM', () => {
  const servers: SpawnedServer[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    for (const server of servers.splice(0)) {
      server.kill('SIGKILL');
      await server.exited;
    }
  });

  const start = async (env: Parameters<typeof spawnServer>[0]) => {
    const server = await spawnServer(env);
    servers.push(server);
    const viewer = await connect(server.wsUrl, { hello: { user: 'viewer' } });
    clients.push(viewer);
    const threadId = await createThread(viewer);
    await subscribe(viewer, threadId);
    await post(viewer, threadId, 'Keep talking');
    const messageStart = await viewer.waitFor('message-start', () => true, 10_000);
    await viewer.waitFor('message-delta', (delta) => delta.messageId === messageStart.messageId);
    return { server, viewer, threadId, messageStart };
  };

  it('with a short drain, stores the streaming message as interrupted and tells viewers before closing with 1001', async () => {
    // 10 tokens/s: the first message streams for 4 s or more, far longer than the 200 ms drain.
    const { server, viewer, threadId, messageStart } = await start({
      CHORUS_DEMO_TOKENS_PER_SECOND: '10',
      CHORUS_DRAIN_MS: '200',
    });
    server.kill('SIGTERM');

    const end = await viewer.waitFor(
      'message-end',
      (frame) => frame.messageId === messageStart.messageId,
      10_000,
    );
    expect(end.message).toMatchObject({
      id: messageStart.messageId,
      status: 'interrupted',
      author: messageStart.agent,
    });
    const runEnd = await viewer.waitFor('run-end', () => true, 5000);
    expect(runEnd).toMatchObject({ runId: messageStart.runId, reason: 'interrupted' });
    expect(await viewer.waitForClose(10_000)).toMatchObject({ code: 1001 });
    expect(viewer.frames.at(-1)).toEqual(runEnd);
    expectDeltasAddUp(streamedMessages(threadEvents(viewer.frames, threadId)));
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('with a long drain, lets the streaming message complete, then closes with 1001 and exits 0', async () => {
    const { server, viewer, threadId, messageStart } = await start({
      CHORUS_DEMO_TOKENS_PER_SECOND: '40',
      CHORUS_DRAIN_MS: '20000',
    });
    server.kill('SIGTERM');
    await server.waitForLog('draining');

    // While draining: not ready, no new WebSocket connections, no new posts.
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    await expect(connect(server.wsUrl)).rejects.toThrow(/503/);
    const refused = await viewer.request({
      type: 'post',
      threadId,
      clientMessageId: 'during-drain',
      text: 'One more?',
    });
    expect(refused).toMatchObject({ type: 'error', code: 'unavailable', retryable: true });

    const end = await viewer.waitFor(
      'message-end',
      (frame) => frame.messageId === messageStart.messageId,
      10_000,
    );
    expect(end.message).toMatchObject({ id: messageStart.messageId, status: 'completed' });
    const runEnd = await viewer.waitFor('run-end', () => true, 5000);
    expect(runEnd).toMatchObject({ runId: messageStart.runId, reason: 'interrupted' });
    expect(await viewer.waitForClose(10_000)).toMatchObject({ code: 1001 });
    const events = threadEvents(viewer.frames, threadId);
    expect(events.filter((frame) => frame.type === 'message-start')).toHaveLength(1);
    expectDeltasAddUp(streamedMessages(events));
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 0 on SIGTERM after its log reader went away (chorus-server | head)', async () => {
    const server = await spawnServer({ CHORUS_DRAIN_MS: '200' });
    servers.push(server);
    // The read ends of its stdout and stderr close: every log line after this fails with EPIPE.
    server.process.stdout?.destroy();
    server.process.stderr?.destroy();
    server.kill('SIGTERM');
    // It used to spin for ever in the logger's exit flush, retrying the failed write.
    const exit = await Promise.race([
      server.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 10_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
