// The Store contract: one suite that every implementation of the port (src/store/store.ts) must
// pass, run by memory-store.test.ts, redis-store.test.ts and redis-cluster-store.test.ts.
// Waits are on events or on bounded polling of the store's own answers, never on sleeps.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RECENT_RUN_ENDS, type Message, type ThreadEvent } from '../../src/protocol/frames.ts';
import { formatCursor, parseCursor } from '../../src/store/cursor.ts';
import {
  StoreError,
  type ControlSignal,
  type LeaseHandle,
  type LiveEnvelope,
  type PostInput,
  type PostResult,
  type RunClaim,
  type Store,
  type StoreErrorCode,
  type StoredItem,
} from '../../src/store/store.ts';

export interface StoreFactoryOptions {
  /** Passed to the store: keep about this many messages per thread. */
  historyMaxLength?: number;
}

export type StoreFactory = (
  options?: StoreFactoryOptions,
) => Promise<{ store: Store; cleanup: () => Promise<void> }>;

const WAIT_MS = 3000;
const LEASE_MS = 10_000;

export function message(n: number | string, overrides: Partial<Message> = {}): Message {
  return {
    id: `m-${n}`,
    role: 'user',
    author: 'ada',
    text: `message ${n}`,
    status: 'completed',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** A post input for the `demo` team: queue policy, room for 20 posts, no run started. */
export function postInput(
  threadId: string,
  n: number | string,
  overrides: Partial<PostInput> = {},
): PostInput {
  return {
    threadId,
    message: message(n, { clientMessageId: `c-${n}` }),
    team: 'demo',
    multitask: 'queue',
    queueMax: 20,
    ...overrides,
  };
}

export function startOptions(owner = 'instance-a', runId = `run-${Math.random().toString(36).slice(2, 10)}`) {
  return { owner, leaseMs: LEASE_MS, runId, contextLimit: 100 };
}

/** Collects live envelopes; `until(n)` resolves once n arrived, or fails saying how many did. */
export function collector() {
  const envelopes: LiveEnvelope[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const listener = (envelope: LiveEnvelope) => {
    envelopes.push(envelope);
    for (const waiter of [...waiters]) {
      if (envelopes.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const until = (count: number, timeoutMs = WAIT_MS) =>
    new Promise<LiveEnvelope[]>((resolve, reject) => {
      if (envelopes.length >= count) {
        resolve(envelopes);
        return;
      }
      const timer = setTimeout(() => {
        reject(new Error(`got ${envelopes.length} of ${count} live events within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve(envelopes);
        },
      });
    });
  return { envelopes, listener, until };
}

/** Polls `probe` until it answers something truthy; fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  const error = await promise.then(
    () => new Error(`expected StoreError ${code}, but the call succeeded`),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  return error as StoreError;
}

export function stored(result: PostResult): Extract<PostResult, { status: 'stored' }> {
  if (result.status !== 'stored') throw new Error(`expected a stored post, got ${result.status}`);
  return result;
}

function ids(items: StoredItem[]): string[] {
  return items.map((item) => item.message.id);
}

/** Every envelope's seq is one more than the previous one's. */
export function expectContiguous(envelopes: readonly LiveEnvelope[]) {
  for (let index = 1; index < envelopes.length; index += 1) {
    const previous = envelopes[index - 1];
    const current = envelopes[index];
    if (!previous || !current) continue;
    expect(current.liveSeq, `seq after ${previous.liveSeq}`).toBe(previous.liveSeq + 1);
  }
}

export function describeStoreContract(name: string, makeStore: StoreFactory) {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    const cleanups: (() => Promise<void>)[] = [];
    let threadCounter = 0;

    beforeEach(async () => {
      const made = await makeStore();
      store = made.store;
      cleanups.push(made.cleanup);
    });

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function otherStore(options: StoreFactoryOptions) {
      const made = await makeStore(options);
      cleanups.push(made.cleanup);
      return made.store;
    }

    async function newThread(on: Store = store) {
      threadCounter += 1;
      const { thread } = await on.createThread({ threadId: `thread-${threadCounter}`, team: 'demo' });
      return thread;
    }

    async function seed(threadId: string, count: number, from = 1, on: Store = store) {
      const messages = Array.from({ length: count }, (_, index) => message(from + index));
      return on.importMessages(threadId, messages);
    }

    /** Posts one message and starts the run that answers it; answers the claim. */
    async function runningThread(threadId: string, owner = 'instance-a'): Promise<RunClaim> {
      const result = stored(
        await store.post(postInput(threadId, `p-${owner}`, { start: startOptions(owner) })),
      );
      if (!result.run) throw new Error('no run started');
      return result.run;
    }

    describe('threads', () => {
      it('creates a thread once: a repeat returns the existing record untouched', async () => {
        const first = await store.createThread({
          threadId: 'alpha',
          team: 'demo',
          metadata: { topic: 'tests' },
        });
        expect(first.existing).toBe(false);
        expect(first.thread).toMatchObject({ threadId: 'alpha', team: 'demo', metadata: { topic: 'tests' } });
        expect(first.thread.epoch).not.toBe('');
        expect(Number.isNaN(Date.parse(first.thread.createdAt))).toBe(false);
        const again = await store.createThread({
          threadId: 'alpha',
          team: 'other',
          metadata: { topic: 'changed' },
        });
        expect(again).toEqual({ thread: first.thread, existing: true });
        expect(await store.getThread('alpha')).toEqual(first.thread);
      });

      it('answers null for an unknown thread and not-found for everything that needs one', async () => {
        expect(await store.getThread('nobody')).toBeNull();
        await expectStoreError(store.importMessages('nobody', [message(1)]), 'not-found');
        await expectStoreError(store.post(postInput('nobody', 1)), 'not-found');
        await expectStoreError(store.acquireLease('nobody', 'a', LEASE_MS), 'not-found');
        await expectStoreError(store.readLatest('nobody', 10), 'not-found');
        await expectStoreError(store.readAfter('nobody', 'x.1', 10), 'not-found');
        await expectStoreError(store.readBefore('nobody', undefined, 10), 'not-found');
        expect(await store.requestCancel('nobody', 'cancelled')).toBeNull();
        expect(await store.runState('nobody')).toEqual({
          exists: false,
          leaseHeld: false,
          leaseTtlMs: 0,
          running: false,
          queued: 0,
        });
      });

      it('creates a thread exactly once under concurrent creates', async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            store.createThread({ threadId: 'race', team: `team-${index}` }),
          ),
        );
        expect(results.filter((result) => !result.existing)).toHaveLength(1);
        expect(new Set(results.map((result) => result.thread.epoch)).size).toBe(1);
      });

      it('gives every thread its own epoch', async () => {
        const a = await newThread();
        const b = await newThread();
        expect(a.epoch).not.toBe(b.epoch);
      });
    });

    describe('history', () => {
      it('imports with distinct cursors and reads the newest oldest first', async () => {
        const thread = await newThread();
        const items = await seed(thread.threadId, 5);
        expect(new Set(items.map((item) => item.cursor)).size).toBe(5);
        const latest = await store.readLatest(thread.threadId, 10);
        expect(latest).toEqual({ items, truncated: false });
        const newest = await store.readLatest(thread.threadId, 2);
        expect(ids(newest.items)).toEqual(['m-4', 'm-5']);
        expect(newest.truncated).toBe(true);
        expect(await store.readLatest((await newThread()).threadId, 10)).toEqual({
          items: [],
          truncated: false,
        });
      });

      it('stores the message as given, every typed part included', async () => {
        const thread = await newThread();
        const rich = message('rich', {
          role: 'assistant',
          author: 'critic',
          status: 'interrupted',
          runId: 'run-1',
          parts: [
            { type: 'text', text: 'see ' },
            { type: 'tool-call', toolCallId: 'c1', name: 'search', arguments: '{"q":"x"}' },
            { type: 'tool-result', toolCallId: 'c1', name: 'search', output: 'found', isError: false },
            {
              type: 'annotation',
              annotation: { kind: 'url-citation', url: 'https://example.org', title: 'ex' },
            },
            { type: 'reasoning', text: 'because' },
          ],
          usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
          text: 'unicode ✓ "quotes" \\ and\nnewlines',
        });
        const [item] = await store.importMessages(thread.threadId, [rich]);
        expect(item?.message).toEqual(rich);
        expect((await store.readLatest(thread.threadId, 1)).items).toEqual([item]);
      });

      it('reads after every cursor exactly once, in order, with how many were missed', async () => {
        const thread = await newThread();
        const items = await seed(thread.threadId, 6);
        const newest = items.at(-1)?.cursor;
        for (const [index, item] of items.entries()) {
          const after = await store.readAfter(thread.threadId, item.cursor, 100);
          expect(after).toEqual({
            recovered: true,
            items: items.slice(index + 1),
            missed: 5 - index,
            newest,
          });
        }
      });

      it('pages after a cursor: at most `limit` items, `missed` counts them all', async () => {
        const thread = await newThread();
        const items = await seed(thread.threadId, 6);
        const first = await store.readAfter(thread.threadId, items[0]?.cursor ?? '', 2);
        expect(first).toEqual({
          recovered: true,
          items: items.slice(1, 3),
          missed: 5,
          newest: items[5]?.cursor,
        });
        const next = await store.readAfter(thread.threadId, first.items.at(-1)?.cursor ?? '', 2);
        expect(ids(next.items)).toEqual(['m-4', 'm-5']);
        expect(next.missed).toBe(3);
        expect(await store.readAfter(thread.threadId, items[0]?.cursor ?? '', 0)).toEqual({
          recovered: true,
          items: [],
          missed: 5,
          newest: items[5]?.cursor,
        });
      });

      it('does not recover unknown, malformed or future cursors, nor those of another thread', async () => {
        const thread = await newThread();
        const [first] = await seed(thread.threadId, 3);
        const other = await newThread();
        const [foreign] = await seed(other.threadId, 1);
        const epoch = first?.cursor.slice(0, first.cursor.lastIndexOf('.')) ?? '';
        for (const cursor of [
          '',
          'garbage',
          `${epoch}.`,
          `${epoch}.0`,
          `${epoch}.-1`,
          `${epoch}.x`,
          `${epoch}.4`,
          '.1',
          foreign?.cursor ?? '',
        ]) {
          expect(
            await store.readAfter(thread.threadId, cursor, 100),
            `cursor ${JSON.stringify(cursor)}`,
          ).toEqual({
            recovered: false,
            items: [],
            missed: 0,
            newest: null,
          });
        }
      });

      it('does not recover a cursor older than the trimmed history', async () => {
        const trimming = await otherStore({ historyMaxLength: 5 });
        const thread = await newThread(trimming);
        const [first] = await seed(thread.threadId, 1, 1, trimming);
        // Redis trims approximately (whole stream nodes): import until the first message is gone.
        let imported = 1;
        await eventually('the history to be trimmed', async () => {
          await seed(thread.threadId, 50, imported + 1, trimming);
          imported += 50;
          const oldest = (await trimming.readBefore(thread.threadId, undefined, 100_000)).items[0];
          return oldest !== undefined && oldest.message.id !== 'm-1';
        });
        const retained = (await trimming.readBefore(thread.threadId, undefined, 100_000)).items;
        expect(retained.length).toBeGreaterThanOrEqual(5);
        expect(retained.length).toBeLessThan(imported);
        expect((await trimming.readAfter(thread.threadId, first?.cursor ?? '', 100_000)).recovered).toBe(
          false,
        );
        const oldest = retained[0];
        const beforeOldest = oldest?.cursor.replace(
          /\.(\d+)$/,
          (_, offset: string) => `.${Number(offset) - 1}`,
        );
        const resumed = await trimming.readAfter(thread.threadId, beforeOldest ?? '', 100_000);
        expect(resumed.recovered).toBe(true);
        expect(resumed.items).toEqual(retained);
        expect(await trimming.readLatest(thread.threadId, retained.length - 1)).toEqual({
          items: retained.slice(1),
          truncated: true,
        });
      });

      it('pages backwards with readBefore, oldest first within a page', async () => {
        const thread = await newThread();
        const items = await seed(thread.threadId, 7);
        const newest = await store.readBefore(thread.threadId, undefined, 3);
        expect(newest).toEqual({ items: items.slice(4), hasMore: true });
        const middle = await store.readBefore(thread.threadId, newest.items[0]?.cursor, 3);
        expect(middle).toEqual({ items: items.slice(1, 4), hasMore: true });
        const oldest = await store.readBefore(thread.threadId, middle.items[0]?.cursor, 3);
        expect(oldest).toEqual({ items: items.slice(0, 1), hasMore: false });
        expect(await store.readBefore(thread.threadId, items[0]?.cursor, 3)).toEqual({
          items: [],
          hasMore: false,
        });
        expect(await store.readBefore(thread.threadId, 'garbage', 10)).toEqual({ items: [], hasMore: false });
        // Cursors of the thread's epoch past its newest message were never given out: unknown too.
        const newestAt = parseCursor(items[6]!.cursor)!;
        for (const offset of [newestAt.offset + 1, newestAt.offset + 1000]) {
          expect(await store.readBefore(thread.threadId, formatCursor(newestAt.epoch, offset), 3)).toEqual({
            items: [],
            hasMore: false,
          });
        }
      });

      it('property: a viewer paging after its cursor sees every message exactly once, in order', async () => {
        const command = fc.oneof(
          fc.record({ kind: fc.constant('import' as const), count: fc.integer({ min: 1, max: 3 }) }),
          fc.record({ kind: fc.constant('resume' as const), page: fc.integer({ min: 1, max: 4 }) }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
            const thread = await newThread();
            let imported = 0;
            const transcript: StoredItem[] = [];
            for (const step of commands) {
              if (step.kind === 'import') {
                await seed(thread.threadId, step.count, imported + 1);
                imported += step.count;
                continue;
              }
              if (transcript.length === 0) {
                transcript.push(...(await store.readLatest(thread.threadId, 1000)).items);
                continue;
              }
              for (;;) {
                const after = await store.readAfter(
                  thread.threadId,
                  transcript.at(-1)?.cursor ?? '',
                  step.page,
                );
                expect(after.recovered).toBe(true);
                if (after.items.length === 0) break;
                transcript.push(...after.items);
              }
            }
            const history = (await store.readLatest(thread.threadId, 1000)).items;
            if (transcript.length > 0) {
              const rest = await store.readAfter(thread.threadId, transcript.at(-1)?.cursor ?? '', 1000);
              transcript.push(...rest.items);
              expect(ids(transcript)).toEqual(ids(history));
            }
            expect(history).toHaveLength(imported);
          }),
          { numRuns: 15 },
        );
      });
    });

    describe('posts', () => {
      it('stores, publishes and queues a post in one step; a retry is a duplicate, published once', async () => {
        const thread = await newThread();
        const events = collector();
        await store.subscribe(thread.threadId, events.listener);
        const first = stored(await store.post(postInput(thread.threadId, 1)));
        expect(first).toMatchObject({ queued: false, supersededRunId: null, run: null, needsRun: true });
        expect(first.envelope.event).toEqual({
          type: 'message',
          threadId: thread.threadId,
          cursor: first.item.cursor,
          message: first.item.message,
        });
        expect(first.envelope.frame).toBe(JSON.stringify(first.envelope.event));
        const retry = await store.post(
          postInput(thread.threadId, 1, {
            message: message('other', { clientMessageId: 'c-1', text: 'retried' }),
          }),
        );
        expect(retry).toEqual({ status: 'duplicate', item: first.item, queued: true, needsRun: true });
        const second = stored(await store.post(postInput(thread.threadId, 2)));
        await events.until(2);
        expect(events.envelopes).toEqual([first.envelope, second.envelope]);
        expect(ids((await store.readLatest(thread.threadId, 10)).items)).toEqual(['m-1', 'm-2']);
        expect((await store.runState(thread.threadId)).queued).toBe(2);
        expect(await store.findByClientMessageId(thread.threadId, 'c-1')).toEqual(first.item);
        expect(await store.findByClientMessageId(thread.threadId, 'c-none')).toBeNull();
      });

      it('scopes clientMessageIds to their thread', async () => {
        const a = await newThread();
        const b = await newThread();
        stored(await store.post(postInput(a.threadId, 1)));
        expect((await store.post(postInput(b.threadId, 1))).status).toBe('stored');
      });

      it('stores concurrent identical posts once', async () => {
        const thread = await newThread();
        const results = await Promise.all(
          Array.from({ length: 8 }, () => store.post(postInput(thread.threadId, 1))),
        );
        expect(results.filter((result) => result.status === 'stored')).toHaveLength(1);
        expect(results.filter((result) => result.status === 'duplicate')).toHaveLength(7);
        expect((await store.readLatest(thread.threadId, 10)).items).toHaveLength(1);
        expect((await store.runState(thread.threadId)).queued).toBe(1);
      });

      it('never queues more than queueMax, however many posts arrive at once', async () => {
        const thread = await newThread();
        await runningThread(thread.threadId);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            store.post(postInput(thread.threadId, index, { queueMax: 5 })),
          ),
        );
        expect(results.filter((result) => result.status === 'stored')).toHaveLength(5);
        expect(results.filter((result) => result.status === 'busy')).toHaveLength(15);
        for (const result of results) if (result.status === 'busy') expect(result.reason).toBe('queue-full');
        expect((await store.runState(thread.threadId)).queued).toBe(5);
        // Refused posts were not stored: the run's post and the five queued ones.
        expect((await store.readLatest(thread.threadId, 100)).items).toHaveLength(6);
      });

      it('starts the run that answers the post when none is active, in the same step', async () => {
        const thread = await newThread();
        await seed(thread.threadId, 2);
        const events = collector();
        await store.subscribe(thread.threadId, events.listener);
        const result = stored(
          await store.post(postInput(thread.threadId, 1, { start: startOptions('a', 'run-1') })),
        );
        const run = result.run;
        if (!run) throw new Error('no run');
        expect(result).toMatchObject({ queued: false, needsRun: false });
        expect(run).toMatchObject({
          runId: 'run-1',
          team: 'demo',
          posts: [{ messageId: 'm-1', offset: 3 }],
          position: 3,
          lease: { threadId: thread.threadId, owner: 'a' },
        });
        expect(run.context.map((item) => item.id)).toEqual(['m-1', 'm-2', 'm-1']);
        expect(run.runStart.event).toEqual({
          type: 'run-start',
          threadId: thread.threadId,
          runId: 'run-1',
          team: 'demo',
          posts: ['m-1'],
        });
        expect(run.runStart.frame).toBe(JSON.stringify(run.runStart.event));
        expect(await events.until(2)).toEqual([result.envelope, run.runStart]);
        expectContiguous(events.envelopes);
        expect(await store.runState(thread.threadId)).toMatchObject({
          leaseHeld: true,
          running: true,
          queued: 0,
        });
        // A later post waits behind the run, which nobody else may start.
        const behind = stored(await store.post(postInput(thread.threadId, 2, { start: startOptions('b') })));
        expect(behind).toMatchObject({ queued: true, run: null, needsRun: false });
      });

      it('refuses a post during a run with the reject policy, before writing anything', async () => {
        const thread = await newThread();
        await runningThread(thread.threadId);
        expect(await store.post(postInput(thread.threadId, 9, { multitask: 'reject' }))).toEqual({
          status: 'busy',
          reason: 'run-active',
        });
        expect(await store.findByClientMessageId(thread.threadId, 'c-9')).toBeNull();
      });

      it('with the interrupt policy, cancels the run it waits behind and never a later one', async () => {
        const thread = await newThread();
        const run = await runningThread(thread.threadId);
        const result = stored(await store.post(postInput(thread.threadId, 9, { multitask: 'interrupt' })));
        expect(result.supersededRunId).toBe(run.runId);
        expect((await store.runRecord(thread.threadId))?.cancel).toBe('superseded');
        const finished = await store.finishRun(
          run.lease,
          run.runId,
          { reason: 'terminated' },
          {
            runId: 'run-2',
            contextLimit: 10,
            leaseMs: LEASE_MS,
          },
        );
        expect(finished.runEnd.event).toMatchObject({ reason: 'cancelled', detail: 'superseded' });
        expect((await store.getThread(thread.threadId))?.lastRunEnd).toEqual(finished.runEnd.event);
        expect(finished.next?.posts.map((post) => post.messageId)).toEqual(['m-9']);
        expect((await store.runRecord(thread.threadId))?.cancel).toBeNull();
      });

      it('keeps the last RECENT_RUN_ENDS run-ends of a thread, oldest first', async () => {
        const thread = await newThread();
        const ends: unknown[] = [];
        for (let index = 1; index <= RECENT_RUN_ENDS + 2; index += 1) {
          const posted = stored(
            await store.post(postInput(thread.threadId, index, { start: startOptions('instance-a') })),
          );
          if (!posted.run) throw new Error('no run started');
          const finished = await store.finishRun(
            posted.run.lease,
            posted.run.runId,
            { reason: 'terminated', detail: `end "${index}"\nof the run` },
            null,
          );
          ends.push(finished.runEnd.event);
          const record = await store.getThread(thread.threadId);
          expect(record?.lastRunEnd).toEqual(finished.runEnd.event);
          expect(record?.earlierRunEnds ?? []).toEqual(ends.slice(-RECENT_RUN_ENDS, -1));
        }
      });

      it('answers team-changed without writing when the thread has another team', async () => {
        const thread = await newThread();
        expect(await store.post(postInput(thread.threadId, 1, { team: 'other' }))).toEqual({
          status: 'team-changed',
          team: 'demo',
        });
        expect((await store.readLatest(thread.threadId, 10)).items).toEqual([]);
      });

      it('does not queue again a retry of a post a run has taken', async () => {
        const thread = await newThread();
        const run = await runningThread(thread.threadId);
        const retry = await store.post(postInput(thread.threadId, 'p-instance-a'));
        expect(retry).toMatchObject({ status: 'duplicate', queued: false, needsRun: false });
        await store.finishRun(run.lease, run.runId, { reason: 'terminated' }, null);
        const later = await store.post(postInput(thread.threadId, 'p-instance-a'));
        expect(later).toMatchObject({ status: 'duplicate', queued: false, needsRun: false });
        expect((await store.runState(thread.threadId)).queued).toBe(0);
      });

      it('counts imported messages as answered', async () => {
        const thread = await newThread();
        stored(await store.post(postInput(thread.threadId, 1)));
        await seed(thread.threadId, 1, 5);
        // The queued post stays queued; imported history never is.
        expect((await store.runState(thread.threadId)).queued).toBe(1);
      });
    });

    describe('runs', () => {
      async function acquire(
        threadId: string,
        owner = 'instance-a',
        leaseMs = LEASE_MS,
      ): Promise<LeaseHandle> {
        const acquired = await store.acquireLease(threadId, owner, leaseMs);
        if (!acquired) throw new Error('no lease');
        return acquired.lease;
      }

      it('gives the lease to one holder at a time, with increasing fencing tokens', async () => {
        const thread = await newThread();
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            store.acquireLease(thread.threadId, `instance-${index}`, LEASE_MS),
          ),
        );
        const granted = results.filter((result) => result !== null);
        expect(granted).toHaveLength(1);
        const first = granted[0]!;
        expect(first).toMatchObject({ orphan: null, queued: 0 });
        await store.releaseLease({ ...first.lease, token: first.lease.token + 1 }); // not ours: ignored
        expect((await store.runState(thread.threadId)).leaseHeld).toBe(true);
        await store.releaseLease(first.lease);
        const second = await acquire(thread.threadId, 'instance-b');
        expect(second.token).toBeGreaterThan(first.lease.token);
      });

      it('starts a run from the queue: posts move into its record, run-start is published', async () => {
        const thread = await newThread();
        stored(await store.post(postInput(thread.threadId, 1)));
        stored(await store.post(postInput(thread.threadId, 2)));
        const lease = await acquire(thread.threadId);
        const claim = await store.startRun(lease, { runId: 'r1', contextLimit: 1 });
        expect(claim).toMatchObject({
          runId: 'r1',
          posts: [
            { messageId: 'm-1', offset: 1 },
            { messageId: 'm-2', offset: 2 },
          ],
          position: 2,
        });
        expect(claim?.context.map((item) => item.id)).toEqual(['m-2']);
        expect(await store.runRecord(thread.threadId)).toMatchObject({
          runId: 'r1',
          owner: 'instance-a',
          token: lease.token,
          posts: claim?.posts,
          position: 2,
          cancel: null,
        });
        expect((await store.currentRun(thread.threadId)).events).toEqual([claim?.runStart]);
        await expectStoreError(store.startRun(lease, { runId: 'r2', contextLimit: 1 }), 'conflict');
      });

      it('carries only the messages after the context mark the caller holds, when the mark is of the epoch', async () => {
        const thread = await newThread();
        stored(await store.post(postInput(thread.threadId, 1)));
        stored(await store.post(postInput(thread.threadId, 2)));
        const first = stored(
          await store.post(postInput(thread.threadId, 3, { start: startOptions('a', 'run-1') })),
        ).run;
        if (!first) throw new Error('no run');
        expect(first).toMatchObject({ position: 3, contextAfter: 0, historyStart: 1 });
        expect(first.epoch).toMatch(/.+/);
        expect(first.context.map((item) => item.id)).toEqual(['m-1', 'm-2', 'm-3']);
        stored(await store.post(postInput(thread.threadId, 4)));
        stored(await store.post(postInput(thread.threadId, 5)));
        // The holder says it has the messages up to 3: the next run's context is 4 and 5 only.
        const finished = await store.finishRun(
          first.lease,
          first.runId,
          { reason: 'terminated' },
          {
            runId: 'run-2',
            contextLimit: 100,
            leaseMs: LEASE_MS,
            contextAfter: { epoch: first.epoch, offset: first.position },
          },
        );
        const second = finished.next;
        if (!second) throw new Error('no next run');
        expect(second).toMatchObject({ position: 5, contextAfter: 3, epoch: first.epoch });
        expect(second.context.map((item) => item.id)).toEqual(['m-4', 'm-5']);
        // The limit still bounds what is carried.
        stored(await store.post(postInput(thread.threadId, 6)));
        stored(await store.post(postInput(thread.threadId, 7)));
        const third = (
          await store.finishRun(
            second.lease,
            second.runId,
            { reason: 'terminated' },
            {
              runId: 'run-3',
              contextLimit: 1,
              leaseMs: LEASE_MS,
              contextAfter: { epoch: second.epoch, offset: second.position },
            },
          )
        ).next;
        expect(third?.context.map((item) => item.id)).toEqual(['m-7']);
        expect(third?.contextAfter).toBe(5);
        if (!third) throw new Error('no third run');
        await store.finishRun(third.lease, third.runId, { reason: 'terminated' }, null);

        // A mark of another epoch, or beyond the run's position, is not trusted: the whole window.
        for (const mark of [
          { epoch: `${first.epoch}x`, offset: 2 },
          { epoch: first.epoch, offset: 99 },
        ]) {
          stored(await store.post(postInput(thread.threadId, `x${mark.offset}`)));
          const lease = await acquire(thread.threadId);
          const claim = await store.startRun(lease, {
            runId: `r-${mark.offset}`,
            contextLimit: 3,
            contextAfter: mark,
          });
          expect(claim).toMatchObject({ contextAfter: 0, epoch: first.epoch });
          expect(claim?.context).toHaveLength(3);
          // A retried start (its answer lost) follows the mark the same way.
          const again = await store.startRun(lease, {
            runId: `r-${mark.offset}`,
            contextLimit: 3,
            contextAfter: { epoch: first.epoch, offset: (claim?.position ?? 1) - 1 },
          });
          expect(again?.contextAfter).toBe((claim?.position ?? 1) - 1);
          expect(again?.context.map((item) => item.id)).toEqual([claim?.context.at(-1)?.id]);
          await store.finishRun(lease, `r-${mark.offset}`, { reason: 'terminated' }, null);
        }
      });

      it('answers null when nothing is queued', async () => {
        const thread = await newThread();
        const lease = await acquire(thread.threadId);
        expect(await store.startRun(lease, { runId: 'r1', contextLimit: 1 })).toBeNull();
      });

      it('publishes run events in order, keeps them as the current run and clears it at the end', async () => {
        const thread = await newThread();
        const { threadId } = thread;
        const events = collector();
        await store.subscribe(threadId, events.listener);
        const claim = await runningThread(threadId);
        const { lease, runId } = claim;
        const start: ThreadEvent = {
          type: 'message-start',
          threadId,
          runId,
          messageId: 'a1',
          agent: 'writer',
        };
        const deltas: ThreadEvent[] = [
          { type: 'message-delta', threadId, messageId: 'a1', seq: 1, text: 'Hel' },
          { type: 'message-delta', threadId, messageId: 'a1', seq: 2, text: 'lo "world" ✓' },
        ];
        expect(await store.publishRunEvents(lease, runId, [start])).toEqual({ cancel: null });
        await store.publishRunEvents(lease, runId, deltas);
        const reply = stored(await store.post(postInput(threadId, 'during')));
        const agentMessage = message('a1', {
          role: 'assistant',
          author: 'writer',
          text: 'Hello "world" ✓',
          runId,
        });
        const ended = await store.endMessage(lease, runId, agentMessage);
        expect(ended.envelope.event).toEqual({
          type: 'message-end',
          threadId,
          messageId: 'm-a1',
          cursor: ended.item.cursor,
          message: agentMessage,
        });
        const run = await store.currentRun(threadId);
        expect(run.events.map((envelope) => envelope.event)).toEqual([
          claim.runStart.event,
          start,
          ...deltas,
          ended.envelope.event,
        ]);
        expect(run.lastSeq).toBe(ended.envelope.liveSeq);
        const finished = await store.finishRun(
          lease,
          runId,
          { reason: 'terminated', detail: 'approval' },
          null,
        );
        expect(finished.runEnd.event).toEqual({
          type: 'run-end',
          threadId,
          runId,
          reason: 'terminated',
          detail: 'approval',
        });
        expect(finished).toMatchObject({ next: null, needsRun: true }); // the post made during the run waits
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastSeq: finished.runEnd.liveSeq });
        expect(await store.runState(threadId)).toMatchObject({ leaseHeld: false, running: false, queued: 1 });
        const received = await events.until(8);
        expectContiguous(received);
        for (const envelope of received) expect(envelope.frame).toBe(JSON.stringify(envelope.event));
        expect(received.map((envelope) => envelope.event.type)).toEqual([
          'message',
          'run-start',
          'message-start',
          'message-delta',
          'message-delta',
          'message',
          'message-end',
          'run-end',
        ]);
        expect(received).toContainEqual(reply.envelope);
        expect(ids((await store.readLatest(threadId, 10)).items)).toEqual([
          'm-p-instance-a',
          'm-during',
          'm-a1',
        ]);
      });

      it('starts the next run in the same step as the end when posts wait', async () => {
        const thread = await newThread();
        const claim = await runningThread(thread.threadId);
        stored(await store.post(postInput(thread.threadId, 2)));
        stored(await store.post(postInput(thread.threadId, 3)));
        const finished = await store.finishRun(
          claim.lease,
          claim.runId,
          { reason: 'max-iterations' },
          {
            runId: 'next',
            contextLimit: 10,
            leaseMs: LEASE_MS,
          },
        );
        expect(finished.next).toMatchObject({
          runId: 'next',
          lease: claim.lease,
          posts: [
            { messageId: 'm-2', offset: 2 },
            { messageId: 'm-3', offset: 3 },
          ],
        });
        expect(finished.next?.runStart.liveSeq).toBe(finished.runEnd.liveSeq + 1);
        expect(finished.needsRun).toBe(false);
        expect(await store.runState(thread.threadId)).toMatchObject({
          leaseHeld: true,
          running: true,
          queued: 0,
        });
      });

      it('fences every run write: refused after the lease is released, taken over or expired', async () => {
        const thread = await newThread();
        const { threadId } = thread;
        const claim = await runningThread(threadId);
        const { lease, runId } = claim;
        const delta: ThreadEvent = { type: 'message-delta', threadId, messageId: 'x', seq: 1, text: 'x' };
        const stale = { ...lease, token: lease.token + 1000 };
        await expectStoreError(store.publishRunEvents(stale, runId, [delta]), 'lease-lost');
        await expectStoreError(store.publishRunEvents(lease, 'another-run', [delta]), 'lease-lost');
        await store.releaseLease(lease);
        await expectStoreError(store.publishRunEvents(lease, runId, [delta]), 'lease-lost');
        await expectStoreError(store.endMessage(lease, runId, message('late')), 'lease-lost');
        await expectStoreError(store.finishRun(lease, runId, { reason: 'terminated' }, null), 'lease-lost');
        expect(await store.renewLease(lease, LEASE_MS)).toEqual({ held: false, cancel: null });

        const takeover = await store.acquireLease(threadId, 'instance-b', 100);
        expect(takeover?.orphan?.runId).toBe(runId);
        await expectStoreError(store.publishRunEvents(lease, runId, [delta]), 'lease-lost');
        await eventually(
          'the short lease to expire',
          async () => !(await store.runState(threadId)).leaseHeld,
        );
        if (!takeover) throw new Error('no takeover');
        await expectStoreError(store.recoverRun(takeover.lease, takeover.orphan!, null), 'lease-lost');
        expect(ids((await store.readLatest(threadId, 10)).items)).toEqual(['m-p-instance-a']);
        expect((await store.currentRun(threadId)).events).toEqual([claim.runStart]);
      });

      it('renews a held lease, which then outlives its first term', async () => {
        const thread = await newThread();
        const kept = await acquire(thread.threadId, 'instance-a', 300);
        const other = await newThread();
        const lost = await acquire(other.threadId, 'instance-a', 300);
        expect(await store.renewLease(kept, LEASE_MS)).toEqual({ held: true, cancel: null });
        await eventually(
          'the unrenewed lease to expire',
          async () => !(await store.runState(other.threadId)).leaseHeld,
        );
        expect((await store.runState(thread.threadId)).leaseHeld).toBe(true);
        expect(await store.renewLease(lost, LEASE_MS)).toEqual({ held: false, cancel: null });
      });

      it('records a cancel durably: writes and renewals report it, and the run ends cancelled', async () => {
        const thread = await newThread();
        const { threadId } = thread;
        expect(await store.requestCancel(threadId, 'cancelled')).toBeNull();
        const claim = await runningThread(threadId);
        expect(await store.requestCancel(threadId, 'cancelled')).toBe(claim.runId);
        expect(await store.requestCancel(threadId, 'superseded')).toBe(claim.runId); // the first reason stays
        const start: ThreadEvent = {
          type: 'message-start',
          threadId,
          runId: claim.runId,
          messageId: 'a',
          agent: 'w',
        };
        expect(await store.publishRunEvents(claim.lease, claim.runId, [start])).toEqual({
          cancel: 'cancelled',
        });
        expect(await store.renewLease(claim.lease, LEASE_MS)).toEqual({ held: true, cancel: 'cancelled' });
        // Even when the holder decided otherwise (the last message had ended), the end agrees with the answer.
        const finished = await store.finishRun(
          claim.lease,
          claim.runId,
          { reason: 'terminated', detail: 'approval' },
          null,
        );
        expect(finished.runEnd.event).toMatchObject({ type: 'run-end', reason: 'cancelled' });
        expect(await store.requestCancel(threadId, 'cancelled')).toBeNull();
      });

      it('recovers an orphaned run: its in-flight message stored interrupted, run-end interrupted', async () => {
        const thread = await newThread();
        const { threadId } = thread;
        const events = collector();
        await store.subscribe(threadId, events.listener);
        const claim = await (async () => {
          const result = stored(
            await store.post(postInput(threadId, 1, { start: { ...startOptions('dead'), leaseMs: 200 } })),
          );
          return result.run!;
        })();
        await store.publishRunEvents(claim.lease, claim.runId, [
          { type: 'message-start', threadId, runId: claim.runId, messageId: 'a1', agent: 'writer' },
          { type: 'message-delta', threadId, messageId: 'a1', seq: 1, text: 'half' },
        ]);
        stored(await store.post(postInput(threadId, 2)));
        await eventually(
          'the dead holder lease to expire',
          async () => !(await store.runState(threadId)).leaseHeld,
        );
        expect(await store.runState(threadId)).toMatchObject({ leaseHeld: false, running: true, queued: 1 });
        const acquired = await store.acquireLease(threadId, 'survivor', LEASE_MS);
        if (!acquired?.orphan) throw new Error('no orphan reported');
        expect(acquired.orphan).toMatchObject({
          runId: claim.runId,
          owner: 'dead',
          posts: claim.posts,
          cancel: null,
        });
        expect(acquired.queued).toBe(1);
        const inFlight = message('a1', {
          role: 'assistant',
          author: 'writer',
          text: 'half',
          runId: claim.runId,
        });
        const recovered = await store.recoverRun(acquired.lease, acquired.orphan, inFlight);
        expect(recovered.message?.message).toEqual({ ...inFlight, status: 'interrupted' });
        expect(recovered.runEnd.event).toMatchObject({
          type: 'run-end',
          runId: claim.runId,
          reason: 'interrupted',
        });
        // The thread remembers how its last run ended (a re-subscribing client learns it).
        expect((await store.getThread(threadId))?.lastRunEnd).toEqual(recovered.runEnd.event);
        expect(await store.runRecord(threadId)).toBeNull();
        // The stale holder can write nothing any more, and its posts are answered (not queued again).
        await expectStoreError(store.endMessage(claim.lease, claim.runId, inFlight), 'lease-lost');
        expect((await store.post(postInput(threadId, 1))).status).toBe('duplicate');
        const next = await store.startRun(acquired.lease, { runId: 'r2', contextLimit: 10 });
        expect(next?.posts.map((post) => post.messageId)).toEqual(['m-2']);
        await events.until(7);
        expectContiguous(events.envelopes);
        await expectStoreError(store.recoverRun(acquired.lease, acquired.orphan, null), 'conflict');
      });

      it('recovers a cancelled orphan as cancelled, so that the cancel answer holds', async () => {
        const thread = await newThread();
        const claim = await (async () => {
          const result = stored(
            await store.post(
              postInput(thread.threadId, 1, { start: { ...startOptions('dead'), leaseMs: 200 } }),
            ),
          );
          return result.run!;
        })();
        expect(await store.requestCancel(thread.threadId, 'cancelled')).toBe(claim.runId);
        await eventually(
          'the lease to expire',
          async () => !(await store.runState(thread.threadId)).leaseHeld,
        );
        const acquired = await store.acquireLease(thread.threadId, 'survivor', LEASE_MS);
        const inFlight = message('a1', { role: 'assistant', text: 'cut', runId: claim.runId });
        const recovered = await store.recoverRun(acquired!.lease, acquired!.orphan!, inFlight);
        expect(recovered.message?.message.status).toBe('cancelled');
        expect(recovered.runEnd.event).toMatchObject({ reason: 'cancelled' });
      });

      it('property: whatever the interleaving of posts and runs, each post is answered by exactly one run', async () => {
        const step = fc.constantFrom('post', 'retry', 'start', 'finish', 'finish-next', 'cancel');
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
            const thread = await newThread();
            const { threadId } = thread;
            const events = collector();
            await store.subscribe(threadId, events.listener);
            let posts = 0;
            let current: RunClaim | null = null;
            let lease: LeaseHandle | null = null;
            const answered = new Map<string, number>();
            const note = (claim: RunClaim | null) => {
              for (const post of claim?.posts ?? [])
                answered.set(post.messageId, (answered.get(post.messageId) ?? 0) + 1);
            };
            for (const kind of steps) {
              if (kind === 'post' || kind === 'retry') {
                const n = kind === 'retry' && posts > 0 ? posts : (posts += 1);
                const result = await store.post(
                  postInput(threadId, n, current || lease ? {} : { start: startOptions() }),
                );
                if (result.status === 'stored' && result.run) {
                  current = result.run;
                  lease = result.run.lease;
                  note(current);
                }
              } else if (kind === 'start' && !current) {
                lease ??= (await store.acquireLease(threadId, 'instance-a', LEASE_MS))?.lease ?? null;
                if (lease) {
                  current = await store.startRun(lease, { runId: `r${Math.random()}`, contextLimit: 5 });
                  note(current);
                }
              } else if ((kind === 'finish' || kind === 'finish-next') && current) {
                const next =
                  kind === 'finish-next'
                    ? { runId: `r${Math.random()}`, contextLimit: 5, leaseMs: LEASE_MS }
                    : null;
                const finished = await store.finishRun(
                  current.lease,
                  current.runId,
                  { reason: 'terminated' },
                  next,
                );
                current = finished.next;
                note(current);
                if (!current) lease = null;
              } else if (kind === 'cancel') {
                expect(await store.requestCancel(threadId, 'cancelled')).toBe(current?.runId ?? null);
              }
            }
            // Drain: run until nothing waits.
            for (;;) {
              if (current) {
                const finished = await store.finishRun(
                  current.lease,
                  current.runId,
                  { reason: 'terminated' },
                  {
                    runId: `r${Math.random()}`,
                    contextLimit: 5,
                    leaseMs: LEASE_MS,
                  },
                );
                current = finished.next;
                note(current);
                if (!current) lease = null;
                continue;
              }
              lease ??= (await store.acquireLease(threadId, 'instance-a', LEASE_MS))?.lease ?? null;
              current = lease
                ? await store.startRun(lease, { runId: `r${Math.random()}`, contextLimit: 5 })
                : null;
              note(current);
              if (!current) break;
            }
            const history = (await store.readLatest(threadId, 1000)).items;
            expect(history).toHaveLength(posts);
            for (const item of history) expect(answered.get(item.message.id), item.message.id).toBe(1);
            expect(await store.runState(threadId)).toMatchObject({ running: false, queued: 0 });
            if (posts > 0) {
              await eventually(
                'the last run-end',
                async () => events.envelopes.at(-1)?.event.type === 'run-end',
              );
            }
            expectContiguous(events.envelopes);
          }),
          { numRuns: 20 },
        );
      });
    });

    describe('sweep index', () => {
      it('hands a marked thread to one claimer once it is due, and forgets it when idle', async () => {
        const thread = await newThread();
        const other = await newThread();
        await store.markForSweep(thread.threadId, 0);
        await store.markForSweep(other.threadId, 60_000);
        const due = await eventually('the thread to be due', async () => {
          const claimed = await store.claimDueThreads(10, 60_000);
          return claimed.includes(thread.threadId) ? claimed : null;
        });
        expect(due).not.toContain(other.threadId);
        expect(await store.claimDueThreads(10, 60_000)).not.toContain(thread.threadId); // postponed
        await store.forgetIdle(thread.threadId);
        await store.markForSweep(other.threadId, 0);
        await eventually('the other thread to be due', async () =>
          (await store.claimDueThreads(10, 0)).includes(other.threadId),
        );
        // Marked again after the claim: a sweep that found it idle must not forget it.
        await store.markForSweep(other.threadId, 0);
        await store.forgetIdle(other.threadId);
        await eventually('the re-marked thread to be due', async () =>
          (await store.claimDueThreads(10, 60_000)).includes(other.threadId),
        );
        await store.markForSweep(thread.threadId, 0);
        await eventually('the forgotten thread to be due again once marked', async () =>
          (await store.claimDueThreads(10, 60_000)).includes(thread.threadId),
        );
      });

      it('keeps the lease index apart: a lease mark is due by itself, and only the claimed marks are forgotten', async () => {
        const thread = await newThread();
        // A holder's short lease mark, then a post's long grace: the thread is due by the lease's.
        await store.markForSweep(thread.threadId, 0, 'leases');
        await store.markForSweep(thread.threadId, 60_000);
        await eventually('the lease mark to be due', async () =>
          (await store.claimDueThreads(10, 60_000)).includes(thread.threadId),
        );
        // Found idle: the lease mark is forgotten, the post's (not claimed) stays for its time.
        await store.forgetIdle(thread.threadId);
        await store.markForSweep(thread.threadId, 0, 'leases');
        await store.forgetIdle(thread.threadId); // nothing claimed since: nothing forgotten
        await eventually('the renewed lease mark to be due', async () =>
          (await store.claimDueThreads(10, 60_000)).includes(thread.threadId),
        );
        // A renewal after the claim: the sweep that found it idle keeps the new mark.
        await store.markForSweep(thread.threadId, 0, 'leases');
        await store.forgetIdle(thread.threadId);
        await eventually('the re-marked lease to be due', async () =>
          (await store.claimDueThreads(10, 60_000)).includes(thread.threadId),
        );
        // Marks of the two indexes due together: the thread is claimed once.
        const both = await newThread();
        await store.markForSweep(both.threadId, 0);
        await store.markForSweep(both.threadId, 0, 'leases');
        const claimed = await eventually('both marks to be due', async () => {
          const ids = await store.claimDueThreads(10, 60_000);
          return ids.includes(both.threadId) ? ids : null;
        });
        expect(claimed.filter((id) => id === both.threadId)).toHaveLength(1);
      });
    });

    describe('live bus', () => {
      it('is active as soon as subscribe resolves, from the thread seq it reports', async () => {
        for (let round = 0; round < 5; round += 1) {
          const thread = await newThread();
          await seed(thread.threadId, round);
          const events = collector();
          const subscription = await store.subscribe(thread.threadId, events.listener);
          const before = await store.currentRun(thread.threadId);
          expect(subscription.lastSeq).toBe(before.lastSeq);
          const result = stored(await store.post(postInput(thread.threadId, 'x')));
          expect(result.envelope.liveSeq).toBe(subscription.lastSeq + 1);
          expect(await events.until(1)).toEqual([result.envelope]);
        }
      });

      it('keeps threads apart and fans out to several listeners of one thread', async () => {
        const a = await newThread();
        const b = await newThread();
        const first = collector();
        const second = collector();
        const other = collector();
        await store.subscribe(a.threadId, first.listener);
        await store.subscribe(a.threadId, second.listener);
        await store.subscribe(b.threadId, other.listener);
        const onA = stored(await store.post(postInput(a.threadId, 1))).envelope;
        const onB = stored(await store.post(postInput(b.threadId, 1))).envelope;
        expect(await first.until(1)).toEqual([onA]);
        expect(await second.until(1)).toEqual([onA]);
        expect(await other.until(1)).toEqual([onB]);
      });

      it('stops delivery to a listener that unsubscribed, not to the others', async () => {
        const thread = await newThread();
        const leaving = collector();
        const staying = collector();
        const subscription = await store.subscribe(thread.threadId, leaving.listener);
        await store.subscribe(thread.threadId, staying.listener);
        stored(await store.post(postInput(thread.threadId, 1)));
        await leaving.until(1);
        await subscription.unsubscribe();
        await subscription.unsubscribe(); // idempotent
        stored(await store.post(postInput(thread.threadId, 2)));
        // Both listeners share one ordered channel: once `staying` has the second event, `leaving`
        // would have had it too.
        await staying.until(2);
        expect(leaving.envelopes).toHaveLength(1);
        const again = collector();
        await store.subscribe(thread.threadId, again.listener);
        const third = stored(await store.post(postInput(thread.threadId, 3))).envelope;
        expect(await again.until(1)).toEqual([third]);
      });
    });

    describe('control signals', () => {
      it('reaches every onSignal listener until it unsubscribes', async () => {
        const received: ControlSignal[] = [];
        const alsoReceived: ControlSignal[] = [];
        const stop = store.onSignal((signal) => received.push(signal));
        store.onSignal((signal) => alsoReceived.push(signal));
        const cancel: ControlSignal = { type: 'cancel', threadId: 't', runId: 'r', reason: 'superseded' };
        const remove: ControlSignal = { type: 'delete', threadId: 't' };
        await store.signal(cancel);
        await eventually('the cancel signal', async () => received.length === 1);
        stop();
        await store.signal(remove);
        await eventually('the delete signal', async () => alsoReceived.length === 2);
        expect(alsoReceived).toEqual([cancel, remove]);
        expect(received).toEqual([cancel]);
      });
    });

    describe('thread values', () => {
      it('keeps named values with the thread, deletes them with it, and never creates a thread', async () => {
        const { threadId } = await newThread();
        expect(await store.getThreadValue(threadId, 'chains')).toBeNull();
        await store.setThreadValue(threadId, 'chains', '{"a":1}');
        await store.setThreadValue(threadId, 'other', 'x');
        expect(await store.getThreadValue(threadId, 'chains')).toBe('{"a":1}');
        await store.deleteThreadValue(threadId, 'other');
        expect(await store.getThreadValue(threadId, 'other')).toBeNull();
        await store.deleteThread(threadId);
        expect(await store.getThreadValue(threadId, 'chains')).toBeNull();
        await store.setThreadValue(threadId, 'chains', 'ghost');
        expect(await store.getThread(threadId)).toBeNull();
        await store.createThread({ threadId, team: 'demo' });
        expect(await store.getThreadValue(threadId, 'chains')).toBeNull();
      });
    });

    describe('deleting a thread', () => {
      it('publishes thread-deleted and removes everything in one step; a re-created thread starts afresh', async () => {
        const thread = await newThread();
        const { threadId } = thread;
        const claim = await runningThread(threadId);
        const queued = stored(await store.post(postInput(threadId, 2)));
        const events = collector();
        await store.subscribe(threadId, events.listener); // a viewer stays subscribed meanwhile

        expect(await store.deleteThread(threadId)).toBe(true);
        expect(await store.deleteThread(threadId)).toBe(false);
        const [deleted] = await events.until(1);
        expect(deleted?.event).toEqual({ type: 'thread-deleted', threadId });
        expect(await store.getThread(threadId)).toBeNull();
        await expectStoreError(store.readLatest(threadId, 10), 'not-found');
        await expectStoreError(
          store.publishRunEvents(claim.lease, claim.runId, [deleted!.event]),
          'not-found',
        );
        expect(await store.runState(threadId)).toMatchObject({
          exists: false,
          leaseHeld: false,
          running: false,
          queued: 0,
        });
        expect((await store.currentRun(threadId)).events).toEqual([]);

        const { thread: again, existing } = await store.createThread({ threadId, team: 'demo' });
        expect(existing).toBe(false);
        expect(again.epoch).not.toBe(thread.epoch);
        expect((await store.readAfter(threadId, queued.item.cursor, 10)).recovered).toBe(false);
        const reposted = stored(await store.post(postInput(threadId, 2)));
        expect(reposted.item.cursor).not.toBe(queued.item.cursor);
        // Seqs never go back: a viewer of the old thread cannot mistake the new one's events for its own.
        expect(reposted.envelope.liveSeq).toBeGreaterThan(deleted!.liveSeq);
      });

      it('announces a thread the store lost, and nothing for one it has', async () => {
        const thread = await newThread();
        const events = collector();
        await store.subscribe('lost-one', events.listener);
        expect(await store.announceLostThread(thread.threadId)).toBe(false);
        expect(await store.announceLostThread('lost-one')).toBe(true);
        const [announced] = await events.until(1);
        expect(announced?.event).toEqual({ type: 'thread-deleted', threadId: 'lost-one' });
      });
    });
  });
}
