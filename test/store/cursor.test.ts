import { describe, expect, it } from 'vitest';
import { formatCursor, parseCursor } from '../../src/store/cursor.ts';

describe('history cursors', () => {
  it('read back what they were made of, epochs with dots included', () => {
    expect(parseCursor(formatCursor('Ab3_x', 42))).toEqual({ epoch: 'Ab3_x', offset: 42 });
    expect(parseCursor('a.b.7')).toEqual({ epoch: 'a.b', offset: 7 });
  });

  it('refuse strings that are not cursors of this format', () => {
    for (const text of [
      '',
      '7',
      '.7',
      'e.',
      'e.0',
      'e.01',
      'e.-1',
      'e.1e3',
      'e.1.5x',
      'e.1234567890123456',
    ]) {
      expect(parseCursor(text), text).toBeNull();
    }
  });
});
