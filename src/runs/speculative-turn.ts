// A run's first turn started while its post is still on the way to the store: the model is called
// with the context the run will have (what this instance holds of the thread, plus the post) at
// once, and the store's round trip overlaps the model's own time to first token. Nothing it yields
// is published before the post's transition has started the run here with exactly that context
// (`adopt`); otherwise it is aborted and its events dropped (`discard`). Before adoption it is
// pulled only up to its first event after `message-start`: a tool runs only after the model's
// call is complete, which needs further pulls, so a discarded turn has run no tool.
import type { Message } from '../protocol/frames.ts';
import { RunAbort, type GroupChat, type GroupChatEvent } from '../agents/group-chat.ts';

export class SpeculativeTurn {
  readonly runId: string;
  private readonly controller = new AbortController();
  private readonly iterator: AsyncIterator<GroupChatEvent, void, void>;
  private readonly historyIds: readonly string[];
  private readonly held: IteratorResult<GroupChatEvent, void>[] = [];
  private readonly ahead: Promise<void>;
  private wake: (() => void) | undefined;
  private aheadDone = false;
  private used = false;

  constructor(
    chat: GroupChat,
    options: { history: readonly Message[]; runId: string; conversationKey: string },
  ) {
    this.runId = options.runId;
    this.historyIds = options.history.map((message) => message.id);
    const events = chat.run({
      history: options.history,
      signal: this.controller.signal,
      runId: options.runId,
      conversationKey: options.conversationKey,
    });
    this.iterator = events[Symbol.asyncIterator]();
    this.ahead = this.pullAhead();
    // Its failure reaches the run through `events` (or nobody, when discarded): never unhandled.
    this.ahead.catch(() => undefined);
  }

  /** Whether the run's actual context is the one this turn was started with. */
  matches(history: readonly Message[]): boolean {
    return (
      history.length === this.historyIds.length &&
      history.every((message, index) => message.id === this.historyIds[index])
    );
  }

  /**
   * The run takes the turn over: its events so far, then the rest, as the run's events. `signal`
   * is the run's: its abort (cancel, delete, shutdown) aborts the turn with the same reason.
   */
  adopt(signal: AbortSignal): AsyncIterable<GroupChatEvent> {
    if (this.used) throw new Error('a speculative turn is adopted or discarded only once');
    this.used = true;
    const abort = () => this.controller.abort(signal.reason);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    return this.events();
  }

  /** Aborts the turn; nothing it produced is used. */
  discard(): void {
    if (this.used) return;
    this.used = true;
    this.controller.abort(new RunAbort('superseded'));
    // Once the pull ahead has stopped, the generator sits at a yield: return() runs its cleanup.
    void this.ahead.then(() => this.iterator.return?.()).catch(() => undefined);
  }

  private async *events(): AsyncGenerator<GroupChatEvent, void, void> {
    let index = 0;
    try {
      for (;;) {
        while (index < this.held.length) {
          const result = this.held[index]!;
          index += 1;
          if (result.done) return;
          yield result.value;
        }
        if (this.aheadDone) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
      await this.ahead;
      for (;;) {
        const result = await this.iterator.next();
        if (result.done) return;
        yield result.value;
      }
    } finally {
      // The run stopped reading (its end, or it stopped early): a pull still waiting for the
      // model's first token must not hold the run's end up.
      if (!this.aheadDone) this.controller.abort(new RunAbort('superseded'));
      await this.ahead.catch(() => undefined);
      await this.iterator.return?.();
    }
  }

  /** Pulls until the first event after the message's start (or the end); errors end the run. */
  private async pullAhead(): Promise<void> {
    try {
      for (;;) {
        const result = await this.iterator.next();
        this.held.push(result);
        this.notify();
        if (result.done || result.value.type !== 'message-start') return;
      }
    } finally {
      this.aheadDone = true;
      this.notify();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
