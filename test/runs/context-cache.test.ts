// The context cache completes a claim that carries only newer messages from what it holds — and,
// when what it holds is not what the claim follows (another start of the thread on this instance
// got in between), from the store instead of from a wrong copy.
import { describe, expect, it } from 'vitest';
import { ContextCache } from '../../src/runs/context-cache.ts';
import type { Message } from '../../src/protocol/frames.ts';
import type { RunClaim, Store } from '../../src/store/store.ts';
import { message } from '../contract/store.contract.ts';

function claim(
  position: number,
  contextAfter: number,
  context: Message[],
  epoch = 'e1',
  historyStart = 1,
): RunClaim {
  return {
    lease: { threadId: 't', owner: 'a', token: 1 },
    runId: `r${position}`,
    team: 'demo',
    posts: [],
    position,
    context,
    contextAfter,
    epoch,
    historyStart,
    runStart: { liveSeq: 1, frame: '{}', event: { type: 'run-start', threadId: 't', runId: 'r' } },
  };
}

describe('context cache', () => {
  it('appends what a claim carries to what it holds, bounded by the limit, and reads the store when they do not fit', async () => {
    const reads: [string | undefined, number][] = [];
    const store = {
      readBefore: async (_threadId: string, before: string | undefined, limit: number) => {
        reads.push([before, limit]);
        return { items: [1, 2, 3].map((n) => ({ cursor: `e1.${n}`, message: message(n) })), hasMore: false };
      },
    } as unknown as Store;
    const cache = new ContextCache(store, 4);
    expect(cache.mark('t')).toBeUndefined();
    const ids = (messages: Message[]) => messages.map((each) => each.id);

    expect(ids(await cache.contextOf(claim(2, 0, [message(1), message(2)])))).toEqual(['m-1', 'm-2']);
    expect(cache.mark('t')).toEqual({ epoch: 'e1', offset: 2 });
    expect(ids(await cache.contextOf(claim(5, 2, [message(3), message(4), message(5)])))).toEqual([
      'm-2',
      'm-3',
      'm-4',
      'm-5',
    ]);
    expect(reads).toEqual([]);
    // The claim follows offset 3, but what is held ends at 5: read up to 3 from the store.
    expect(ids(await cache.contextOf(claim(6, 3, [message(4), message(5), message(6)])))).toEqual([
      'm-3',
      'm-4',
      'm-5',
      'm-6',
    ]);
    expect(reads).toEqual([['e1.4', 4]]);
    // History was trimmed below offset 5 since: what is held below it is dropped too.
    expect(ids(await cache.contextOf(claim(7, 6, [message(7)], 'e1', 5)))).toEqual(['m-5', 'm-6', 'm-7']);
    // Another epoch's claim is never completed from the old one.
    expect(ids(await cache.contextOf(claim(1, 0, [message('x')], 'e2')))).toEqual(['m-x']);
    expect(cache.mark('t')).toEqual({ epoch: 'e2', offset: 1 });
    cache.forget('t');
    expect(cache.mark('t')).toBeUndefined();
  });

  it("holds the run's own messages and predicts the next context only while the thread published nothing since the run's end", async () => {
    const store = {
      readBefore: async () => {
        throw new Error('not read: what is held fits');
      },
    } as unknown as Store;
    const cache = new ContextCache(store, 4);
    const ids = (messages: readonly Message[] | null) => messages?.map((each) => each.id) ?? null;
    await cache.contextOf(claim(2, 0, [message(1), message(2)]));
    // Before the run's end nothing is predicted.
    expect(cache.predict('t', 7, message(4))).toBeNull();
    cache.append('t', { cursor: 'e1.3', message: message(3) });
    cache.settle('t', 7);
    expect(ids(cache.predict('t', 7, message(4)))).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    expect(ids(cache.predict('t', 8, message(4)))).toBeNull();
    expect(cache.mark('t')).toEqual({ epoch: 'e1', offset: 3 });
    // Bounded by the limit.
    cache.append('t', { cursor: 'e1.4', message: message(4) });
    cache.settle('t', 9);
    expect(ids(cache.predict('t', 9, message(5)))).toEqual(['m-2', 'm-3', 'm-4', 'm-5']);
    // The next claim follows what is held: only the post is new.
    expect(ids(await cache.contextOf(claim(5, 4, [message(5)])))).toEqual(['m-2', 'm-3', 'm-4', 'm-5']);
    // A message that does not follow what is held (a post stored meanwhile), or another epoch: forgotten.
    cache.append('t', { cursor: 'e1.7', message: message(7) });
    expect(cache.mark('t')).toBeUndefined();
    await cache.contextOf(claim(2, 0, [message(1), message(2)]));
    cache.append('t', { cursor: 'e2.3', message: message(3) });
    expect(cache.mark('t')).toBeUndefined();
  });
});
