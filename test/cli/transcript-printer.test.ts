// The terminal transcript: each message on its own `author: text` line as it streams, a note for a
// message that did not complete, and notes on another stream (stderr) that break the open line only
// once per stretch of text, so a terminal that shows both gets no blank lines between notes.
import { describe, expect, it } from 'vitest';
import type { ThreadItem } from '../../src/client/index.ts';
import { TranscriptPrinter } from '../../src/cli/transcript-printer.ts';

const item = (key: string, fields: Partial<ThreadItem> = {}) =>
  ({ key, author: 'writer', status: 'streaming', error: null, ...fields }) as ThreadItem;

describe('TranscriptPrinter', () => {
  it('breaks an open line for notes once until more text comes', () => {
    let out = '';
    const printer = new TranscriptPrinter((text) => (out += text));
    expect(printer.breakForNote()).toBe(false); // no line open
    printer.text({ item: item('a'), text: 'Half a sen', start: true, end: false });
    expect(printer.breakForNote()).toBe(true);
    expect(printer.breakForNote()).toBe(false); // the second note of a reconnect: no blank line
    expect(printer.breakForNote()).toBe(false);
    printer.text({ item: item('a'), text: 'tence', start: false, end: false });
    expect(printer.breakForNote()).toBe(true);
    printer.text({ item: item('a', { status: 'interrupted' }), text: '', start: false, end: true });
    expect(printer.breakForNote()).toBe(false);
    expect(out).toBe('writer: Half a sentence [interrupted]\n');
  });
});
