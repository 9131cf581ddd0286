// The Store contract: one suite that every implementation of the port (src/store/store.ts) must
// pass, run by memory-store.test.ts, redis-store.test.ts and redis-cluster-store.test.ts.
// Waits are on events or on bounded polling of the store's own answers, never on sleeps.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message, ThreadEvent } from '../../src/protocol/frames.ts';
import {
  compareLiveIds,
  StoreError,
  type ControlSignal,
  type LiveEnvelope,
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

function ids(items: StoredItem[]): string[] {
  return items.map((item) => item.message.id);
}

function expectIncreasing(envelopes: LiveEnvelope[]) {
  for (let index = 1; index < envelopes.length; index += 1) {
    const previous = envelopes[index - 1];
    const current = envelopes[index];
    if (!previous || !current) continue;
    expect(
      compareLiveIds(previous.liveId, current.liveId),
      `${previous.liveId} < ${current.liveId}`,
    ).toBeLessThan(0);
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

    async function appendMany(threadId: string, count: number, from = 1, on: Store = store) {
      const items: StoredItem[] = [];
      for (let n = from; n < from + count; n += 1) items.push((await on.append(threadId, message(n))).item);
      return items;
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

      it('answers null for an unknown thread and not-found for its history', async () => {
        expect(await store.getThread('nobody')).toBeNull();
        await expectStoreError(store.append('nobody', message(1)), 'not-found');
        await expectStoreError(store.readLatest('nobody', 10), 'not-found');
        await expectStoreError(store.readAfter('nobody', 'x.1', 10), 'not-found');
        await expectStoreError(store.readBefore('nobody', undefined, 10), 'not-found');
        await expectStoreError(store.enqueue('nobody', 'm-1', 5), 'not-found');
      });

      it('creates a thread exactly once under concurrent creates', async () => {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            store.createThread({ threadId: 'race', team: `team-${index}` }),
          ),
        );
        expect(results.filter((result) => !result.existing)).toHaveLength(1);
        const epochs = new Set(results.map((result) => result.thread.epoch));
        expect(epochs.size).toBe(1);
      });

      it('gives every thread its own epoch', async () => {
        const a = await newThread();
        const b = await newThread();
        expect(a.epoch).not.toBe(b.epoch);
      });
    });

    describe('history', () => {
      it('appends with distinct cursors and reads the newest oldest first', async () => {
        const thread = await newThread();
        const items = await appendMany(thread.threadId, 5);
        expect(new Set(items.map((item) => item.cursor)).size).toBe(5);
        const latest = await store.readLatest(thread.threadId, 10);
        expect(latest.truncated).toBe(false);
        expect(latest.items).toEqual(items);
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
        const { item } = await store.append(thread.threadId, rich);
        expect(item.message).toEqual(rich);
        expect((await store.readLatest(thread.threadId, 1)).items).toEqual([
          { cursor: item.cursor, message: rich },
        ]);
      });

      it('reads after every cursor exactly once, in order', async () => {
        const thread = await newThread();
        const items = await appendMany(thread.threadId, 6);
        for (const [index, item] of items.entries()) {
          const after = await store.readAfter(thread.threadId, item.cursor, 100);
          expect(after.recovered).toBe(true);
          expect(after.items).toEqual(items.slice(index + 1));
        }
      });

      it('reads after the newest cursor: recovered with nothing missed', async () => {
        const thread = await newThread();
        const [, last] = await appendMany(thread.threadId, 2);
        expect(await store.readAfter(thread.threadId, last?.cursor ?? '', 10)).toEqual({
          recovered: true,
          items: [],
        });
      });

      it('does not recover unknown, malformed or future cursors', async () => {
        const thread = await newThread();
        const [first] = await appendMany(thread.threadId, 3);
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
        ]) {
          expect(
            await store.readAfter(thread.threadId, cursor, 100),
            `cursor ${JSON.stringify(cursor)}`,
          ).toEqual({
            recovered: false,
            items: [],
          });
        }
      });

      it('does not recover a cursor of another thread or epoch', async () => {
        const a = await newThread();
        const b = await newThread();
        const [fromA] = await appendMany(a.threadId, 2);
        await appendMany(b.threadId, 3);
        expect(await store.readAfter(b.threadId, fromA?.cursor ?? '', 100)).toEqual({
          recovered: false,
          items: [],
        });
      });

      it('does not recover when more than `limit` messages were missed', async () => {
        const thread = await newThread();
        const [first] = await appendMany(thread.threadId, 6);
        const cursor = first?.cursor ?? '';
        expect(await store.readAfter(thread.threadId, cursor, 4)).toEqual({ recovered: false, items: [] });
        const exact = await store.readAfter(thread.threadId, cursor, 5);
        expect(exact.recovered).toBe(true);
        expect(ids(exact.items)).toEqual(['m-2', 'm-3', 'm-4', 'm-5', 'm-6']);
      });

      it('does not recover a cursor older than the trimmed history', async () => {
        const trimming = await otherStore({ historyMaxLength: 5 });
        const thread = await newThread(trimming);
        const [first] = await appendMany(thread.threadId, 1, 1, trimming);
        // Redis trims approximately (whole stream nodes): append until the first message is gone.
        let appended = 1;
        await eventually('the history to be trimmed', async () => {
          await appendMany(thread.threadId, 50, appended + 1, trimming);
          appended += 50;
          const oldest = (await trimming.readBefore(thread.threadId, undefined, 100_000)).items[0];
          return oldest !== undefined && oldest.message.id !== 'm-1';
        });
        const retained = (await trimming.readBefore(thread.threadId, undefined, 100_000)).items;
        expect(retained.length).toBeGreaterThanOrEqual(5);
        expect(retained.length).toBeLessThan(appended);
        expect(await trimming.readAfter(thread.threadId, first?.cursor ?? '', 100_000)).toEqual({
          recovered: false,
          items: [],
        });
        // Right before the oldest retained message is still continuous.
        const oldest = retained[0];
        const beforeOldest = oldest?.cursor.replace(
          /\.(\d+)$/,
          (_, offset: string) => `.${Number(offset) - 1}`,
        );
        const resumed = await trimming.readAfter(thread.threadId, beforeOldest ?? '', 100_000);
        expect(resumed.recovered).toBe(true);
        expect(resumed.items).toEqual(retained);
        // `truncated` speaks of older messages still readable, not of trimmed ones.
        const latest = await trimming.readLatest(thread.threadId, retained.length - 1);
        expect(latest).toEqual({ items: retained.slice(1), truncated: true });
        expect(await trimming.readLatest(thread.threadId, retained.length)).toEqual({
          items: retained,
          truncated: false,
        });
      });

      it('pages backwards with readBefore, oldest first within a page', async () => {
        const thread = await newThread();
        const items = await appendMany(thread.threadId, 7);
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
        expect(await store.readBefore(thread.threadId, undefined, 7)).toEqual({ items, hasMore: false });
      });

      it('answers an empty page for a cursor of another epoch', async () => {
        const a = await newThread();
        const b = await newThread();
        const [fromA] = await appendMany(a.threadId, 1);
        await appendMany(b.threadId, 2);
        expect(await store.readBefore(b.threadId, fromA?.cursor, 10)).toEqual({ items: [], hasMore: false });
        expect(await store.readBefore(b.threadId, 'garbage', 10)).toEqual({ items: [], hasMore: false });
      });

      it('property: a viewer resuming by cursor sees every message exactly once, in order', async () => {
        const command = fc.oneof(
          fc.record({ kind: fc.constant('append' as const), count: fc.integer({ min: 1, max: 3 }) }),
          fc.record({ kind: fc.constant('resume' as const), limit: fc.integer({ min: 1, max: 5 }) }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
            const thread = await newThread();
            let appended = 0;
            let transcript: StoredItem[] = [];
            let cursor: string | null = null;
            let seen = 0; // how many appended messages the viewer had when it took `cursor`
            for (const step of commands) {
              if (step.kind === 'append') {
                await appendMany(thread.threadId, step.count, appended + 1);
                appended += step.count;
                continue;
              }
              if (cursor === null) {
                transcript = (await store.readLatest(thread.threadId, 1000)).items;
              } else {
                const missed = appended - seen;
                const after = await store.readAfter(thread.threadId, cursor, step.limit);
                expect(after.recovered).toBe(missed <= step.limit);
                if (after.recovered) transcript = [...transcript, ...after.items];
                else transcript = (await store.readLatest(thread.threadId, 1000)).items;
              }
              cursor = transcript.at(-1)?.cursor ?? null;
              seen = appended;
            }
            const history = (await store.readLatest(thread.threadId, 1000)).items;
            if (cursor !== null) {
              const rest = await store.readAfter(thread.threadId, cursor, 1000);
              expect(rest.recovered).toBe(true);
              transcript = [...transcript, ...rest.items];
            } else {
              transcript = history;
            }
            expect(ids(transcript)).toEqual(ids(history));
            expect(history).toHaveLength(appended);
          }),
          { numRuns: 15 },
        );
      });

      it('property: paging backwards collects the whole history once, in order', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 0, max: 20 }),
            fc.integer({ min: 1, max: 6 }),
            async (count, pageSize) => {
              const thread = await newThread();
              const items = await appendMany(thread.threadId, count);
              let collected: StoredItem[] = [];
              let before: string | undefined;
              for (let pages = 0; pages <= count; pages += 1) {
                const page = await store.readBefore(thread.threadId, before, pageSize);
                collected = [...page.items, ...collected];
                if (!page.hasMore) break;
                expect(page.items).toHaveLength(pageSize);
                before = page.items[0]?.cursor;
              }
              expect(collected).toEqual(items);
            },
          ),
          { numRuns: 12 },
        );
      });
    });

    describe('idempotent appends', () => {
      it('stores a clientMessageId once and returns the first item for repeats', async () => {
        const thread = await newThread();
        const first = await store.append(thread.threadId, message(1, { clientMessageId: 'c-1' }));
        expect(first.duplicate).toBe(false);
        const retry = await store.append(
          thread.threadId,
          message(1, { clientMessageId: 'c-1', text: 'retried' }),
        );
        expect(retry).toEqual({ item: first.item, duplicate: true });
        const other = await store.append(thread.threadId, message(2, { clientMessageId: 'c-2' }));
        expect(other.duplicate).toBe(false);
        expect(ids((await store.readLatest(thread.threadId, 10)).items)).toEqual(['m-1', 'm-2']);
      });

      it('scopes clientMessageIds to their thread', async () => {
        const a = await newThread();
        const b = await newThread();
        await store.append(a.threadId, message(1, { clientMessageId: 'same' }));
        expect((await store.append(b.threadId, message(1, { clientMessageId: 'same' }))).duplicate).toBe(
          false,
        );
      });

      it('stores once under concurrent retries', async () => {
        const thread = await newThread();
        const results = await Promise.all(
          Array.from({ length: 6 }, () =>
            store.append(thread.threadId, message(1, { clientMessageId: 'c-race' })),
          ),
        );
        expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
        expect(new Set(results.map((result) => result.item.cursor)).size).toBe(1);
        expect((await store.readLatest(thread.threadId, 10)).items).toHaveLength(1);
      });

      it('does not publish a duplicate again', async () => {
        const thread = await newThread();
        const events = collector();
        await store.subscribe(thread.threadId, events.listener);
        const first = await store.appendAndPublish(
          thread.threadId,
          message(1, { clientMessageId: 'c-1' }),
          'message',
        );
        const retry = await store.appendAndPublish(
          thread.threadId,
          message(1, { clientMessageId: 'c-1' }),
          'message',
        );
        expect(retry).toEqual({ item: first.item, duplicate: true, envelope: null });
        const marker = await store.publish(thread.threadId, {
          type: 'run-start',
          threadId: thread.threadId,
          runId: 'r',
        });
        await events.until(2);
        expect(events.envelopes.map((envelope) => envelope.liveId)).toEqual([
          first.envelope?.liveId,
          marker.liveId,
        ]);
      });
    });

    describe('run lease and fencing', () => {
      it('is exclusive until released, with increasing fencing tokens', async () => {
        const thread = await newThread();
        const first = await store.acquireLease(thread.threadId, 'instance-a', 10_000);
        expect(first).toMatchObject({ threadId: thread.threadId, owner: 'instance-a' });
        expect(await store.acquireLease(thread.threadId, 'instance-b', 10_000)).toBeNull();
        expect(await store.leaseHolder(thread.threadId)).toEqual({
          owner: 'instance-a',
          token: first?.token,
        });
        if (!first) throw new Error('no lease');
        await store.releaseLease(first);
        expect(await store.leaseHolder(thread.threadId)).toBeNull();
        const second = await store.acquireLease(thread.threadId, 'instance-b', 10_000);
        expect(second?.token).toBeGreaterThan(first.token);
        expect(await store.leaseHolder(thread.threadId)).toEqual({
          owner: 'instance-b',
          token: second?.token,
        });
      });

      it('grants exactly one of concurrent acquisitions', async () => {
        const thread = await newThread();
        const leases = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            store.acquireLease(thread.threadId, `instance-${index}`, 10_000),
          ),
        );
        expect(leases.filter((lease) => lease !== null)).toHaveLength(1);
      });

      it('renews and releases only with the current token', async () => {
        const thread = await newThread();
        const lease = await store.acquireLease(thread.threadId, 'instance-a', 10_000);
        if (!lease) throw new Error('no lease');
        const impostor = { ...lease, token: lease.token + 1 };
        expect(await store.renewLease(impostor, 10_000)).toBe(false);
        await store.releaseLease(impostor);
        expect(await store.leaseHolder(thread.threadId)).toEqual({ owner: 'instance-a', token: lease.token });
        expect(await store.renewLease(lease, 10_000)).toBe(true);
      });

      it('expires a lease that is not renewed, while a renewed one holds', async () => {
        const renewed = await newThread();
        const abandoned = await newThread();
        const kept = await store.acquireLease(renewed.threadId, 'instance-a', 150);
        const lost = await store.acquireLease(abandoned.threadId, 'instance-a', 150);
        if (!kept || !lost) throw new Error('no lease');
        expect(await store.renewLease(kept, 10_000)).toBe(true);
        await eventually(
          'the abandoned lease to expire',
          async () => (await store.leaseHolder(abandoned.threadId)) === null,
        );
        expect(await store.leaseHolder(renewed.threadId)).toEqual({ owner: 'instance-a', token: kept.token });
        expect(await store.renewLease(lost, 10_000)).toBe(false);
        const next = await store.acquireLease(abandoned.threadId, 'instance-b', 10_000);
        expect(next?.token).toBeGreaterThan(lost.token);
      });

      it('fences appends: accepted under the current lease, lease-lost after release, takeover or expiry', async () => {
        const thread = await newThread();
        const lease = await store.acquireLease(thread.threadId, 'instance-a', 10_000);
        if (!lease) throw new Error('no lease');
        await store.append(thread.threadId, message(1), { fence: lease });
        await store.releaseLease(lease);
        await expectStoreError(store.append(thread.threadId, message(2), { fence: lease }), 'lease-lost');

        const takeover = await store.acquireLease(thread.threadId, 'instance-b', 10_000);
        if (!takeover) throw new Error('no lease');
        await expectStoreError(store.append(thread.threadId, message(3), { fence: lease }), 'lease-lost');
        await expectStoreError(
          store.appendAndPublish(thread.threadId, message(3), 'message-end', { fence: lease }),
          'lease-lost',
        );
        await store.releaseLease(takeover);

        const short = await store.acquireLease(thread.threadId, 'instance-c', 100);
        if (!short) throw new Error('no lease');
        await eventually(
          'the short lease to expire',
          async () => (await store.leaseHolder(thread.threadId)) === null,
        );
        await expectStoreError(store.append(thread.threadId, message(4), { fence: short }), 'lease-lost');
        expect(ids((await store.readLatest(thread.threadId, 10)).items)).toEqual(['m-1']);
      });
    });

    describe('run queue', () => {
      it('accepts up to `max` ids and drains them oldest first', async () => {
        const thread = await newThread();
        expect(await store.enqueue(thread.threadId, 'm-1', 2)).toEqual({ accepted: true, position: 1 });
        expect(await store.enqueue(thread.threadId, 'm-2', 2)).toEqual({ accepted: true, position: 2 });
        expect(await store.enqueue(thread.threadId, 'm-3', 2)).toEqual({ accepted: false, position: 2 });
        expect(await store.queueLength(thread.threadId)).toBe(2);
        expect(await store.drainQueue(thread.threadId)).toEqual(['m-1', 'm-2']);
        expect(await store.queueLength(thread.threadId)).toBe(0);
        expect(await store.drainQueue(thread.threadId)).toEqual([]);
        expect(await store.drainQueue('nobody')).toEqual([]);
        expect(await store.queueLength('nobody')).toBe(0);
      });
    });

    describe('live bus', () => {
      it('delivers events in publish order with increasing liveIds and the verbatim frame', async () => {
        const thread = await newThread();
        const events = collector();
        await store.subscribe(thread.threadId, events.listener);
        const threadId = thread.threadId;
        const published: LiveEnvelope[] = [];
        const sequence: ThreadEvent[] = [
          { type: 'run-start', threadId, runId: 'r1' },
          { type: 'message-start', threadId, runId: 'r1', messageId: 'a1', agent: 'writer' },
          { type: 'message-delta', threadId, messageId: 'a1', seq: 1, text: 'Hel' },
          { type: 'message-delta', threadId, messageId: 'a1', seq: 2, text: 'lo "world" ✓' },
        ];
        for (const event of sequence) published.push(await store.publish(threadId, event));
        const end = await store.appendAndPublish(
          threadId,
          message('a1', { role: 'assistant', author: 'writer', text: 'Hello "world" ✓', runId: 'r1' }),
          'message-end',
        );
        if (!end.envelope) throw new Error('no envelope');
        published.push(end.envelope);
        published.push(
          await store.publish(threadId, { type: 'run-end', threadId, runId: 'r1', reason: 'terminated' }),
        );

        const received = await events.until(published.length);
        expect(received).toEqual(published);
        expectIncreasing(received);
        for (const envelope of received) expect(envelope.frame).toBe(JSON.stringify(envelope.event));
        expect(received.slice(0, 4).map((envelope) => envelope.event)).toEqual(sequence);
        expect(end.envelope.event).toEqual({
          type: 'message-end',
          threadId,
          messageId: 'm-a1',
          cursor: end.item.cursor,
          message: end.item.message,
        });
      });

      it('publishes a stored user message as a `message` event carrying its cursor', async () => {
        const thread = await newThread();
        const events = collector();
        await store.subscribe(thread.threadId, events.listener);
        const posted = await store.appendAndPublish(
          thread.threadId,
          message(1, { clientMessageId: 'c-1' }),
          'message',
        );
        expect(posted.duplicate).toBe(false);
        expect(posted.envelope?.event).toEqual({
          type: 'message',
          threadId: thread.threadId,
          cursor: posted.item.cursor,
          message: posted.item.message,
        });
        expect(posted.envelope?.frame).toBe(JSON.stringify(posted.envelope?.event));
        expect(await events.until(1)).toEqual([posted.envelope]);
        expect((await store.readLatest(thread.threadId, 1)).items).toEqual([posted.item]);
      });

      it('is active as soon as subscribe resolves', async () => {
        for (let round = 0; round < 5; round += 1) {
          const thread = await newThread();
          const events = collector();
          await store.subscribe(thread.threadId, events.listener);
          const envelope = await store.publish(thread.threadId, {
            type: 'run-start',
            threadId: thread.threadId,
            runId: 'r',
          });
          expect(await events.until(1)).toEqual([envelope]);
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
        const onA = await store.publish(a.threadId, { type: 'run-start', threadId: a.threadId, runId: 'ra' });
        const onB = await store.publish(b.threadId, { type: 'run-start', threadId: b.threadId, runId: 'rb' });
        expect(await first.until(1)).toEqual([onA]);
        expect(await second.until(1)).toEqual([onA]);
        expect(await other.until(1)).toEqual([onB]);
      });

      it('stops delivery to a listener that unsubscribed, not to the others', async () => {
        const thread = await newThread();
        const leaving = collector();
        const staying = collector();
        const unsubscribe = await store.subscribe(thread.threadId, leaving.listener);
        await store.subscribe(thread.threadId, staying.listener);
        await store.publish(thread.threadId, { type: 'run-start', threadId: thread.threadId, runId: 'r1' });
        await leaving.until(1);
        await unsubscribe();
        await unsubscribe(); // idempotent
        await store.publish(thread.threadId, {
          type: 'run-end',
          threadId: thread.threadId,
          runId: 'r1',
          reason: 'terminated',
        });
        // Both listeners share one ordered channel: once `staying` has the second event, `leaving`
        // would have had it too.
        await staying.until(2);
        expect(leaving.envelopes).toHaveLength(1);
      });

      it('delivers again after the last listener left and a new one came', async () => {
        const thread = await newThread();
        const first = collector();
        const unsubscribe = await store.subscribe(thread.threadId, first.listener);
        await unsubscribe();
        const second = collector();
        await store.subscribe(thread.threadId, second.listener);
        const envelope = await store.publish(thread.threadId, {
          type: 'run-start',
          threadId: thread.threadId,
          runId: 'r',
        });
        expect(await second.until(1)).toEqual([envelope]);
        expect(first.envelopes).toEqual([]);
      });

      it('keeps the current run: reset at run-start, message events excluded, cleared at run-end', async () => {
        const thread = await newThread();
        const threadId = thread.threadId;
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastLiveId: null });

        const stray = await store.publish(threadId, {
          type: 'message-delta',
          threadId,
          messageId: 'x',
          seq: 1,
          text: 'x',
        });
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastLiveId: stray.liveId });

        const start = await store.publish(threadId, { type: 'run-start', threadId, runId: 'r1' });
        const messageStart = await store.publish(threadId, {
          type: 'message-start',
          threadId,
          runId: 'r1',
          messageId: 'a1',
          agent: 'writer',
        });
        const posted = await store.appendAndPublish(threadId, message(1), 'message');
        const delta = await store.publish(threadId, {
          type: 'message-delta',
          threadId,
          messageId: 'a1',
          seq: 1,
          text: 'Hi',
        });
        expect(await store.currentRun(threadId)).toEqual({
          events: [start, messageStart, delta],
          lastLiveId: delta.liveId,
        });
        const end = await store.appendAndPublish(
          threadId,
          message('a1', { role: 'assistant' }),
          'message-end',
        );
        expect((await store.currentRun(threadId)).events).toEqual([start, messageStart, delta, end.envelope]);
        expect(posted.envelope).not.toBeNull();

        const runEnd = await store.publish(threadId, {
          type: 'run-end',
          threadId,
          runId: 'r1',
          reason: 'terminated',
        });
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastLiveId: runEnd.liveId });

        const next = await store.publish(threadId, { type: 'run-start', threadId, runId: 'r2' });
        expect(await store.currentRun(threadId)).toEqual({ events: [next], lastLiveId: next.liveId });
        const restart = await store.publish(threadId, { type: 'run-start', threadId, runId: 'r3' });
        expect(await store.currentRun(threadId)).toEqual({ events: [restart], lastLiveId: restart.liveId });

        const deleted = await store.publish(threadId, { type: 'thread-deleted', threadId });
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastLiveId: deleted.liveId });
        expectIncreasing([stray, start, messageStart, delta, runEnd, next, restart, deleted]);
      });

      it('property: any sequence of events arrives in order and the current run follows the model', async () => {
        const step = fc.constantFrom(
          'run-start',
          'message-start',
          'message-delta',
          'message',
          'message-end',
          'run-end',
        );
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 15 }), async (steps) => {
            const thread = await newThread();
            const threadId = thread.threadId;
            const events = collector();
            const unsubscribe = await store.subscribe(threadId, events.listener);
            const published: LiveEnvelope[] = [];
            let run: LiveEnvelope[] = [];
            let runs = 0;
            for (const [index, kind] of steps.entries()) {
              let envelope: LiveEnvelope;
              if (kind === 'message' || kind === 'message-end') {
                const stored = await store.appendAndPublish(threadId, message(index), kind);
                if (!stored.envelope) throw new Error('no envelope');
                envelope = stored.envelope;
              } else if (kind === 'run-start') {
                runs += 1;
                envelope = await store.publish(threadId, { type: 'run-start', threadId, runId: `r${runs}` });
              } else if (kind === 'run-end') {
                envelope = await store.publish(threadId, {
                  type: 'run-end',
                  threadId,
                  runId: `r${runs}`,
                  reason: 'terminated',
                });
              } else if (kind === 'message-start') {
                envelope = await store.publish(threadId, {
                  type: 'message-start',
                  threadId,
                  runId: `r${runs}`,
                  messageId: `a${index}`,
                  agent: 'w',
                });
              } else {
                envelope = await store.publish(threadId, {
                  type: 'message-delta',
                  threadId,
                  messageId: 'a',
                  seq: index,
                  text: `${index}`,
                });
              }
              published.push(envelope);
              if (kind === 'run-start') run = [envelope];
              else if (kind === 'run-end') run = [];
              else if (kind !== 'message' && run.length > 0) run.push(envelope);
            }
            expect(await store.currentRun(threadId)).toEqual({
              events: run,
              lastLiveId: published.at(-1)?.liveId,
            });
            expect(await events.until(published.length)).toEqual(published);
            expectIncreasing(published);
            await unsubscribe();
          }),
          { numRuns: 12 },
        );
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

    describe('finding a message by clientMessageId', () => {
      it('finds what an idempotent append stored, and nothing for other ids or threads', async () => {
        const { threadId } = await newThread();
        const { item } = await store.append(threadId, message(1, { clientMessageId: 'c-find' }));
        expect(await store.findByClientMessageId(threadId, 'c-find')).toEqual(item);
        expect(await store.findByClientMessageId(threadId, 'c-other')).toBeNull();
        expect(await store.findByClientMessageId('no-such-thread', 'c-find')).toBeNull();
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
      it('removes history, queue, lease and idempotency; a re-created thread has a new epoch', async () => {
        const thread = await newThread();
        const threadId = thread.threadId;
        const { item } = await store.append(threadId, message(1, { clientMessageId: 'c-1' }));
        await store.enqueue(threadId, 'm-1', 5);
        await store.acquireLease(threadId, 'instance-a', 10_000);
        await store.subscribe(threadId, collector().listener); // a viewer stays subscribed meanwhile
        await store.publish(threadId, { type: 'run-start', threadId, runId: 'r1' });

        expect(await store.deleteThread(threadId)).toBe(true);
        expect(await store.deleteThread(threadId)).toBe(false);
        expect(await store.getThread(threadId)).toBeNull();
        await expectStoreError(store.readLatest(threadId, 10), 'not-found');
        await expectStoreError(store.readAfter(threadId, item.cursor, 10), 'not-found');
        expect(await store.queueLength(threadId)).toBe(0);
        expect(await store.leaseHolder(threadId)).toBeNull();
        expect(await store.currentRun(threadId)).toEqual({ events: [], lastLiveId: null });

        const { thread: again, existing } = await store.createThread({ threadId, team: 'demo' });
        expect(existing).toBe(false);
        expect(again.epoch).not.toBe(thread.epoch);
        expect(await store.readAfter(threadId, item.cursor, 10)).toEqual({ recovered: false, items: [] });
        const reposted = await store.append(threadId, message(1, { clientMessageId: 'c-1' }));
        expect(reposted.duplicate).toBe(false);
        expect(reposted.item.cursor).not.toBe(item.cursor);
        expect(await store.queueLength(threadId)).toBe(0);
      });
    });
  });
}
