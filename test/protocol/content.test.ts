// ContentAccumulator: how a stream of typed deltas becomes a message's text and ordered parts, as
// protocol.md's "Delta fields" table describes it for every client.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContentAccumulator, isEmptyDelta } from '../../src/protocol/content.ts';
import type { DeltaContent, Part } from '../../src/protocol/frames.ts';

function accumulate(deltas: readonly DeltaContent[]): ContentAccumulator {
  const content = new ContentAccumulator();
  for (const delta of deltas) content.apply(delta);
  return content;
}

describe('ContentAccumulator', () => {
  it('merges consecutive text deltas into one text part', () => {
    const content = accumulate([{ text: 'Hel' }, { text: 'lo, ' }, { text: 'world' }]);
    expect(content.text).toBe('Hello, world');
    expect(content.parts).toEqual([{ type: 'text', text: 'Hello, world' }]);
  });

  it('starts a new run when the kind changes, and keeps reasoning and refusals out of text', () => {
    const content = accumulate([
      { reasoning: 'Think' },
      { reasoning: 'ing.' },
      { text: 'Answer' },
      { refusal: 'I cannot' },
      { refusal: ' do that.' },
      { text: ' more' },
    ]);
    expect(content.text).toBe('Answer more');
    expect(content.parts).toEqual([
      { type: 'reasoning', text: 'Thinking.' },
      { type: 'text', text: 'Answer' },
      { type: 'refusal', text: 'I cannot do that.' },
      { type: 'text', text: ' more' },
    ]);
  });

  it('merges tool-call argument fragments by id, in the position of the first fragment', () => {
    const content = accumulate([
      { text: 'Let me look.' },
      { toolCall: { toolCallId: 'a', index: 0, name: 'search', arguments: '{"q":' } },
      { toolCall: { toolCallId: 'b', index: 1, name: 'weather', arguments: '{"city"' } },
      { toolCall: { toolCallId: 'a', index: 0, arguments: '"picnic"}' } },
      { toolCall: { toolCallId: 'b', index: 1, arguments: ':"Paris"}' } },
    ]);
    expect(content.parts).toEqual([
      { type: 'text', text: 'Let me look.' },
      { type: 'tool-call', toolCallId: 'a', name: 'search', arguments: '{"q":"picnic"}' },
      { type: 'tool-call', toolCallId: 'b', name: 'weather', arguments: '{"city":"Paris"}' },
    ]);
    expect(JSON.parse((content.parts[1] as Extract<Part, { type: 'tool-call' }>).arguments)).toEqual({
      q: 'picnic',
    });
  });

  it('fills a tool call name that arrives after its first fragment, and never renames it', () => {
    const content = accumulate([
      { toolCall: { toolCallId: 'a', arguments: '{' } },
      { toolCall: { toolCallId: 'a', name: 'search', arguments: '}' } },
      { toolCall: { toolCallId: 'a', name: 'other' } },
    ]);
    expect(content.parts).toEqual([{ type: 'tool-call', toolCallId: 'a', name: 'search', arguments: '{}' }]);
  });

  it('adds tool results, annotations and files as whole parts, in order', () => {
    const annotation = {
      kind: 'url-citation' as const,
      url: 'https://example.com',
      title: 'Example',
      startIndex: 0,
      endIndex: 4,
    };
    const file = { fileId: 'file-1', filename: 'plan.md', mediaType: 'text/markdown' };
    const content = accumulate([
      { toolCall: { toolCallId: 'a', name: 'search', arguments: '{}' } },
      { toolResult: { toolCallId: 'a', name: 'search', output: 'found', isError: false } },
      { text: 'Done' },
      { annotation },
      { file },
      { text: '.' },
    ]);
    expect(content.text).toBe('Done.');
    expect(content.parts).toEqual([
      { type: 'tool-call', toolCallId: 'a', name: 'search', arguments: '{}' },
      { type: 'tool-result', toolCallId: 'a', name: 'search', output: 'found', isError: false },
      { type: 'text', text: 'Done' },
      { type: 'annotation', annotation },
      { type: 'file', file },
      { type: 'text', text: '.' },
    ]);
  });

  it('applies the fields of one delta in the documented order', () => {
    const content = accumulate([
      {
        file: { fileId: 'f' },
        text: 'a',
        reasoning: 'r',
        toolCall: { toolCallId: 'x', name: 'n', arguments: '{}' },
      },
    ]);
    expect(content.parts.map((part) => part.type)).toEqual(['text', 'reasoning', 'tool-call', 'file']);
  });

  it('ignores empty strings', () => {
    const content = accumulate([{ text: '' }, { reasoning: '' }, { refusal: '' }]);
    expect(content.text).toBe('');
    expect(content.parts).toEqual([]);
  });

  it('resets from a snapshot and continues from it', () => {
    const content = accumulate([
      { text: 'stale' },
      { toolCall: { toolCallId: 'old', name: 'x', arguments: '{' } },
    ]);
    content.reset('Hello', [
      { type: 'text', text: 'Hello' },
      { type: 'tool-call', toolCallId: 'a', name: 'search', arguments: '{"q":' },
    ]);
    content.apply({ toolCall: { toolCallId: 'a', arguments: '"x"}' } });
    content.apply({ text: ' again' });
    expect(content.text).toBe('Hello again');
    expect(content.parts).toEqual([
      { type: 'text', text: 'Hello' },
      { type: 'tool-call', toolCallId: 'a', name: 'search', arguments: '{"q":"x"}' },
      { type: 'text', text: ' again' },
    ]);
    // The tool call of before the snapshot is forgotten: a fragment for it starts a new part.
    content.apply({ toolCall: { toolCallId: 'old', arguments: '}' } });
    expect(content.parts.at(-1)).toEqual({ type: 'tool-call', toolCallId: 'old', name: '', arguments: '}' });
  });

  it('resets from a snapshot without parts to one text part (or none)', () => {
    const content = accumulate([{ reasoning: 'r' }]);
    content.reset('so far', undefined);
    expect(content.parts).toEqual([{ type: 'text', text: 'so far' }]);
    content.apply({ text: ' more' });
    expect(content.parts).toEqual([{ type: 'text', text: 'so far more' }]);
    content.reset('', undefined);
    expect(content.text).toBe('');
    expect(content.parts).toEqual([]);
  });

  it('does not share part objects with the snapshot it was reset from', () => {
    const snapshot: Part[] = [{ type: 'text', text: 'a' }];
    const content = new ContentAccumulator();
    content.reset('a', snapshot);
    content.apply({ text: 'b' });
    expect(snapshot).toEqual([{ type: 'text', text: 'a' }]);
  });

  it('hands out parts that do not change as accumulation continues', () => {
    const content = accumulate([{ text: 'a' }, { toolCall: { toolCallId: 't', name: 'n', arguments: '{' } }]);
    const parts = content.snapshotParts();
    content.apply({ toolCall: { toolCallId: 't', arguments: '}' } });
    content.apply({ text: 'b' });
    expect(parts).toEqual([
      { type: 'text', text: 'a' },
      { type: 'tool-call', toolCallId: 't', name: 'n', arguments: '{' },
    ]);
  });

  it('a snapshot at any point, then the rest, gives the same message as the whole stream', () => {
    const delta = fc.oneof(
      fc.record({ text: fc.string({ minLength: 1, maxLength: 5 }) }),
      fc.record({ reasoning: fc.string({ minLength: 1, maxLength: 5 }) }),
      fc.record({
        toolCall: fc.record({
          toolCallId: fc.constantFrom('a', 'b'),
          name: fc.constantFrom('f', 'g'),
          arguments: fc.string({ maxLength: 4 }),
        }),
      }),
      fc.record({ file: fc.record({ fileId: fc.string({ minLength: 1, maxLength: 3 }) }) }),
    );
    fc.assert(
      fc.property(fc.array(delta, { maxLength: 30 }), fc.nat(), (deltas: DeltaContent[], cut) => {
        const at = deltas.length === 0 ? 0 : cut % (deltas.length + 1);
        const whole = accumulate(deltas);
        const before = accumulate(deltas.slice(0, at));
        const joiner = new ContentAccumulator();
        joiner.reset(before.text, before.snapshotParts());
        for (const each of deltas.slice(at)) joiner.apply(each);
        expect(joiner.text).toBe(whole.text);
        expect(joiner.parts).toEqual(whole.parts);
      }),
      { numRuns: 500 },
    );
  });
});

describe('isEmptyDelta', () => {
  it('is true only when no content field is set', () => {
    expect(isEmptyDelta({})).toBe(true);
    expect(isEmptyDelta({ text: '' })).toBe(true);
    expect(isEmptyDelta({ text: 'a' })).toBe(false);
    expect(isEmptyDelta({ reasoning: 'a' })).toBe(false);
    expect(isEmptyDelta({ refusal: 'a' })).toBe(false);
    expect(isEmptyDelta({ toolCall: { toolCallId: 'a' } })).toBe(false);
    expect(isEmptyDelta({ toolResult: { toolCallId: 'a', name: 'n', output: '' } })).toBe(false);
    expect(isEmptyDelta({ annotation: { kind: 'file-path' } })).toBe(false);
    expect(isEmptyDelta({ file: { fileId: 'f' } })).toBe(false);
  });
});
