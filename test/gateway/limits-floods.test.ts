// Story: one connection floods the instance — 500 create-thread requests, then 500
// subscribe/unsubscribe pairs, then 500 history requests with a cancel and a delete-thread among
// them, all pipelined. After its burst (CHORUS_CREATE_BURST,
// CHORUS_SUBSCRIBE_BURST = CHORUS_MAX_SUBSCRIPTIONS, CHORUS_REQUEST_BURST) it gets `rate-limited` (retryable, with
// `retryAfterMs`), at most the refill rate gets through, and another client on the same instance
// gets its replies within a bound meanwhile. A client resuming all its threads at once (as many
// subscribes as CHORUS_MAX_SUBSCRIPTIONS) is not limited. Every limit here is the default.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { connect, type Frame, type FrameOf, type TestClient } from '../support/ws-client.ts';
import { post, subscribe, uniqueId } from './thread-frames.ts';

const FLOOD = 500;
/** How long the other client may wait for each of its replies during a flood. */
const BYSTANDER_REPLY_BOUND_MS = 2000;
const defaults = loadConfig({});

/** The answers to `requestIds` (each exactly one), once all have arrived. */
async function answersTo(client: TestClient, requestIds: string[]): Promise<Map<string, Frame>> {
  const wanted = new Set(requestIds);
  const answers = new Map<string, Frame>();
  let scanned = 0;
  await client.next(
    () => {
      for (; scanned < client.frames.length; scanned += 1) {
        const frame = client.frames[scanned]!;
        const requestId = 'requestId' in frame ? frame.requestId : undefined;
        if (typeof requestId !== 'string' || !wanted.has(requestId)) continue;
        if (answers.has(requestId)) throw new Error(`${requestId} was answered twice`);
        answers.set(requestId, frame);
      }
      return answers.size === wanted.size;
    },
    { timeoutMs: 20_000, description: `answers to ${requestIds.length} pipelined requests` },
  );
  return answers;
}

function rateLimited(frame: Frame | undefined): frame is FrameOf<'error'> {
  return frame?.type === 'error' && frame.code === 'rate-limited';
}

function expectRetryAdvice(refusals: FrameOf<'error'>[], rate: number): void {
  expect(refusals.length).toBeGreaterThan(0);
  for (const refusal of refusals) {
    expect(refusal.retryable).toBe(true);
    expect(refusal.retryAfterMs).toBeGreaterThan(0);
    expect(refusal.retryAfterMs).toBeLessThanOrEqual(Math.ceil(1000 / rate));
  }
}

/**
 * The answers to a flood of one kind, in arrival order: the burst served in full, beyond it only what
 * the rate refilled over `elapsedSeconds`, every other answer a `rate-limited` refusal with advice.
 */
function expectBurstThenRefusals(
  ordered: (Frame | undefined)[],
  servedType: Frame['type'],
  limit: { burst: number; rate: number },
  elapsedSeconds: number,
  summary: string,
): void {
  const served = ordered.filter((frame) => frame?.type === servedType);
  const refusals = ordered.filter(rateLimited);
  expect(served.length + refusals.length, summary).toBe(ordered.length);
  expect(ordered.slice(0, limit.burst).every((frame) => frame?.type === servedType)).toBe(true);
  expect(served.length).toBeLessThanOrEqual(limit.burst + Math.ceil(limit.rate * elapsedSeconds) + 1);
  expectRetryAdvice(refusals, limit.rate);
}

describe('request floods from one connection', () => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const open = async (user: string) => {
    const client = await connect(server.wsUrl, { hello: { user } });
    clients.push(client);
    return client;
  };

  /** Another client's everyday work, each reply awaited within the bound; resolves with its duration. */
  async function bystanderRound(bystander: TestClient): Promise<number> {
    const started = performance.now();
    const options = { timeoutMs: BYSTANDER_REPLY_BOUND_MS };
    const threadId = uniqueId('bystander');
    await bystander.request({ type: 'create-thread', threadId }, 'thread-created', options);
    await bystander.request({ type: 'subscribe', threadId }, 'subscribed', options);
    const clientMessageId = uniqueId('b');
    const posted = await bystander.request(
      { type: 'post', threadId, clientMessageId, text: 'still served?' },
      'posted',
      options,
    );
    await bystander.waitFor(
      'message',
      (frame) => frame.message.id === posted.messageId,
      BYSTANDER_REPLY_BOUND_MS,
    );
    await bystander.request({ type: 'cancel', threadId }, 'cancelled', options);
    return performance.now() - started;
  }

  beforeAll(async () => {
    server = await startServer();
    expect(defaults.createBurst).toBe(10);
    expect(defaults.requestBurst).toBe(40);
    expect(defaults.subscribeBurst).toBe(defaults.maxSubscriptions);
  });

  afterAll(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close();
  });

  it('rate-limits 500 create-thread requests after the burst; another client is served meanwhile', async () => {
    const flooder = await open('flooder');
    const bystander = await open('bystander');
    const requestIds = Array.from({ length: FLOOD }, (_, index) => `create-${index}`);
    const started = performance.now();
    for (const requestId of requestIds)
      flooder.send({ type: 'create-thread', requestId, threadId: uniqueId('flood') });
    const bystanderMs = await bystanderRound(bystander);
    const answers = await answersTo(flooder, requestIds);
    const elapsedSeconds = (performance.now() - started) / 1000;

    expectBurstThenRefusals(
      requestIds.map((requestId) => answers.get(requestId)),
      'thread-created',
      { burst: defaults.createBurst, rate: defaults.createRate },
      elapsedSeconds,
      flooder.summary(),
    );
    expect(bystanderMs).toBeLessThan(4 * BYSTANDER_REPLY_BOUND_MS);
    expect(flooder.isOpen).toBe(true);
  });

  it('rate-limits 500 subscribe/unsubscribe pairs after the burst; another client is served meanwhile', async () => {
    const flooder = await open('flooder');
    const bystander = await open('bystander');
    const threadId = uniqueId('churn');
    await server.app.store.createThread({ threadId, team: 'demo' });
    const subscribeIds = Array.from({ length: FLOOD }, (_, index) => `subscribe-${index}`);
    const unsubscribeIds = Array.from({ length: FLOOD }, (_, index) => `unsubscribe-${index}`);
    const started = performance.now();
    for (let index = 0; index < FLOOD; index += 1) {
      flooder.send({ type: 'subscribe', requestId: subscribeIds[index], threadId, cursor: '0.0' });
      flooder.send({ type: 'unsubscribe', requestId: unsubscribeIds[index], threadId });
    }
    const bystanderMs = await bystanderRound(bystander);
    const answers = await answersTo(flooder, [...subscribeIds, ...unsubscribeIds]);
    const elapsedSeconds = (performance.now() - started) / 1000;

    const subscribes = subscribeIds.map((requestId) => answers.get(requestId));
    const refusals = subscribes.filter(rateLimited);
    const served = subscribes.filter((frame) => !rateLimited(frame));
    // A served subscribe either took effect or was overtaken by its unsubscribe (conflict).
    for (const frame of served) {
      if (frame?.type !== 'subscribed') expect(frame).toMatchObject({ type: 'error', code: 'conflict' });
    }
    expect(subscribes.slice(0, defaults.subscribeBurst).some(rateLimited)).toBe(false);
    expect(served.length).toBeLessThanOrEqual(
      defaults.subscribeBurst + Math.ceil(defaults.subscribeRate * elapsedSeconds) + 1,
    );
    expect(refusals.length).toBeGreaterThanOrEqual(FLOOD - served.length);
    expectRetryAdvice(refusals, defaults.subscribeRate);
    for (const requestId of unsubscribeIds) expect(answers.get(requestId)?.type).toBe('unsubscribed');
    expect(bystanderMs).toBeLessThan(4 * BYSTANDER_REPLY_BOUND_MS);
    expect(flooder.isOpen).toBe(true);
  });

  it('rate-limits 500 history requests after the burst, cancel and delete-thread in the same bucket; another client is served meanwhile', async () => {
    const flooder = await open('flooder');
    const bystander = await open('bystander');
    const threadId = uniqueId('pages');
    await server.app.store.createThread({ threadId, team: 'demo' });
    const requestIds = Array.from({ length: FLOOD }, (_, index) => `history-${index}`);
    const started = performance.now();
    for (const requestId of requestIds) flooder.send({ type: 'history', requestId, threadId, limit: 200 });
    const late = [
      { type: 'cancel', requestId: 'late-cancel', threadId },
      { type: 'delete-thread', requestId: 'late-delete', threadId },
    ] as const;
    for (const frame of late) flooder.send(frame);
    const bystanderMs = await bystanderRound(bystander);
    const answers = await answersTo(flooder, [...requestIds, ...late.map((frame) => frame.requestId)]);
    const elapsedSeconds = (performance.now() - started) / 1000;

    expectBurstThenRefusals(
      requestIds.map((requestId) => answers.get(requestId)),
      'history-page',
      { burst: defaults.requestBurst, rate: defaults.requestRate },
      elapsedSeconds,
      flooder.summary(),
    );
    // The bucket is empty: the cancel and the delete behind the flood are refused too, and the
    // thread is still there.
    for (const frame of late) expect(rateLimited(answers.get(frame.requestId)), frame.type).toBe(true);
    expect(await server.app.store.getThread(threadId)).not.toBeNull();
    expect(bystanderMs).toBeLessThan(4 * BYSTANDER_REPLY_BOUND_MS);
    expect(flooder.isOpen).toBe(true);
  });

  it('lets a client resume all its threads at once: CHORUS_MAX_SUBSCRIPTIONS subscribes in a burst', async () => {
    const owner = await open('owner');
    const threadIds = Array.from({ length: defaults.maxSubscriptions }, () => uniqueId('mine'));
    const cursors = new Map<string, string>();
    for (const threadId of threadIds) await server.app.store.createThread({ threadId, team: 'demo' });
    // A little history on one thread, to resume from its first message.
    await subscribe(owner, threadIds[0]!);
    const first = await post(owner, threadIds[0]!, 'before the drop');
    await post(owner, threadIds[0]!, 'missed while away', uniqueId('missed'));
    await owner.request({ type: 'cancel', threadId: threadIds[0] }, 'cancelled');
    cursors.set(threadIds[0]!, first.cursor);

    const returning = await open('owner');
    const requestIds = threadIds.map((threadId) => `resume-${threadId}`);
    threadIds.forEach((threadId, index) => {
      const cursor = cursors.get(threadId);
      returning.send({
        type: 'subscribe',
        requestId: requestIds[index],
        threadId,
        ...(cursor === undefined ? {} : { cursor }),
      });
    });
    const answers = await answersTo(returning, requestIds);
    const refused = requestIds
      .map((requestId) => answers.get(requestId))
      .filter((frame) => frame?.type !== 'subscribed');
    expect(refused, returning.summary(refused.filter((frame) => frame !== undefined))).toEqual([]);
    expect(answers.get(requestIds[0]!)).toMatchObject({ recovered: true });
  });
});
