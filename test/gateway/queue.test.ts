// Story: posts arrive while a run is active. They wait for the next run, up to the thread's queue
// bound (CHORUS_QUEUE_MAX); beyond it a post is refused `busy` (retryable) and not stored.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type TestClient } from '../support/ws-client.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { collectRun, createThread, post, readHistory, subscribe, uniqueId } from './thread-frames.ts';

describe('the run queue bound', () => {
  let server: TestServer;
  let alice: TestClient;

  beforeEach(async () => {
    // 100 tokens/s: the run lasts seconds, the posts below arrive while it is active.
    server = await startServer({ CHORUS_QUEUE_MAX: '1', CHORUS_DEMO_TOKENS_PER_SECOND: '100' });
    alice = await connect(server.wsUrl, { hello: { user: 'alice' } });
  });

  afterEach(async () => {
    await alice.close();
    await server.close();
  });

  it('queues one post during a run and refuses the next with busy', async () => {
    const threadId = await createThread(alice);
    await subscribe(alice, threadId);
    const first = await post(alice, threadId, 'Start the run');
    const runStart = await alice.waitFor('run-start');
    const secondId = uniqueId('second');
    const second = await post(alice, threadId, 'Wait for the next run', secondId);
    expect(second.duplicate).toBe(false);
    // A retry of the queued post is answered duplicate, not busy, although the queue is full.
    const retriedSecond = await post(alice, threadId, 'Wait for the next run', secondId);
    expect(retriedSecond).toMatchObject({
      duplicate: true,
      messageId: second.messageId,
      cursor: second.cursor,
    });

    const refusedId = uniqueId('refused');
    const refused = await alice.request(
      { type: 'post', threadId, clientMessageId: refusedId, text: 'One too many' },
      'error',
    );
    expect(refused).toMatchObject({ code: 'busy', retryable: true, threadId });
    const stored = await readHistory(alice, threadId);
    expect(stored.filter((entry) => entry.role === 'user').map((entry) => entry.id)).toEqual([
      first.messageId,
      second.messageId,
    ]);

    // The queued post runs after the current run; then the thread accepts posts again.
    const cancelled = await alice.request({ type: 'cancel', threadId }, 'cancelled');
    expect(cancelled.runId).toBe(runStart.runId);
    await collectRun(alice, runStart.runId);
    const nextRun = await alice.waitFor('run-start');
    expect(nextRun.runId).not.toBe(runStart.runId);
    await alice.request({ type: 'cancel', threadId }, 'cancelled');
    await collectRun(alice, nextRun.runId);
    const retried = await post(alice, threadId, 'One too many', refusedId);
    expect(retried.duplicate).toBe(false);
  });
});
