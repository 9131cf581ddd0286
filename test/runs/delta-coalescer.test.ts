import { describe, expect, it } from 'vitest';
import type { DeltaContent } from '../../src/protocol/frames.ts';
import { DeltaCoalescer } from '../../src/runs/delta-coalescer.ts';

function recorder() {
  const published: DeltaContent[] = [];
  return { published, publish: async (delta: DeltaContent) => void published.push(delta) };
}

describe('DeltaCoalescer', () => {
  it('sends the first delta at once and merges the text that follows within the window', async () => {
    const { published, publish } = recorder();
    const coalescer = new DeltaCoalescer(publish, 1000);
    await coalescer.push({ text: 'Hel' });
    await coalescer.push({ text: 'lo' });
    await coalescer.push({ text: ' world' });
    await coalescer.drain();
    expect(published).toEqual([{ text: 'Hel' }, { text: 'lo world' }]);
  });

  it('keeps order: a delta that cannot merge flushes the waiting text first', async () => {
    const { published, publish } = recorder();
    const coalescer = new DeltaCoalescer(publish, 1000);
    await coalescer.push({ text: 'a' });
    await coalescer.push({ text: 'b' });
    await coalescer.push({ reasoning: 'r1' });
    await coalescer.push({ reasoning: 'r2' });
    await coalescer.push({ toolCall: { toolCallId: 't', name: 'f', arguments: '{}' } });
    await coalescer.push({ text: 'c' });
    await coalescer.drain();
    expect(published).toEqual([
      { text: 'a' },
      { text: 'b' },
      { reasoning: 'r1r2' },
      { toolCall: { toolCallId: 't', name: 'f', arguments: '{}' } },
      { text: 'c' },
    ]);
  });

  it('with a zero window sends every delta, in order', async () => {
    const { published, publish } = recorder();
    const coalescer = new DeltaCoalescer(publish, 0);
    for (const text of ['x', 'y', 'z']) await coalescer.push({ text });
    await coalescer.drain();
    expect(published.map((delta) => delta.text)).toEqual(['x', 'y', 'z']);
  });

  it('sends what waits when the window ends, without a drain', async () => {
    const { published, publish } = recorder();
    const coalescer = new DeltaCoalescer(publish, 5);
    await coalescer.push({ text: 'first' });
    await coalescer.push({ text: 'second' });
    await expect.poll(() => published.length, { timeout: 2000 }).toBe(2);
    expect(published[1]).toEqual({ text: 'second' });
  });

  it('reports a failed publish on drain and publishes nothing after it', async () => {
    const published: DeltaContent[] = [];
    const coalescer = new DeltaCoalescer(async (delta) => {
      if (delta.text === 'boom') throw new Error('redis down');
      published.push(delta);
    }, 0);
    await coalescer.push({ text: 'boom' });
    await coalescer.push({ text: 'after' }).catch(() => undefined);
    await expect(coalescer.drain()).rejects.toThrow('redis down');
    expect(published).toEqual([]);
  });
});
