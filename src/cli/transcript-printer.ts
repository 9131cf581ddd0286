// Prints a thread as a transcript, `author: text` per message, the text as it streams and each
// message's text exactly once across reconnects (the thread's `text` events), with a note for a
// message that did not complete and a line when a run ends.
import type { RunEnd, ThreadItem } from '../client/index.ts';

export class TranscriptPrinter {
  private readonly write: (text: string) => void;
  /** The message whose line is open (its text may continue). */
  private openLine: string | null = null;
  /** A note on another stream broke the open line, and no text came since. */
  private brokenForNote = false;

  constructor(write: (text: string) => void) {
    this.write = (text) => {
      this.brokenForNote = false;
      write(text);
    };
  }

  text(event: { item: ThreadItem; text: string; start: boolean; end: boolean }): void {
    const { item, text, start, end } = event;
    if (this.openLine !== item.key) {
      this.closeLine();
      // A message another one interrupted (a post during a run) continues on a line of its own.
      this.write(`${item.author}: ${start ? '' : '…'}`);
      this.openLine = item.key;
    }
    this.write(text);
    if (end) {
      this.write(`${statusNote(item)}\n`);
      this.openLine = null;
    }
  }

  /**
   * Whether a note written to another stream (stderr, on the same terminal) should start on a new
   * line: a line is open and has had text since the last note broke it. Marks it broken.
   */
  breakForNote(): boolean {
    if (this.openLine === null || this.brokenForNote) return false;
    this.brokenForNote = true;
    return true;
  }

  runEnd(frame: RunEnd): void {
    this.closeLine();
    this.write(`── run ended: ${frame.reason}${frame.detail ? ` (${frame.detail})` : ''}\n`);
  }

  closeLine(): void {
    if (this.openLine === null) return;
    this.write('\n');
    this.openLine = null;
  }
}

/** ` [cancelled]`, ` [failed: …]` … for a message that did not complete; '' when it did. */
export function statusNote(item: Pick<ThreadItem, 'status' | 'error'>): string {
  if (item.status === 'completed') return '';
  if (item.error) return ` [${item.status}: ${item.error.message}]`;
  return ` [${item.status}]`;
}
