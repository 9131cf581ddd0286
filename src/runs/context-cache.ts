// The agents' context of the last run started on this instance, per thread, so that the next run
// start reads only the messages stored since (the claim's `contextAfter`) instead of the whole
// window of up to CHORUS_CONTEXT_MESSAGES messages inside the run-start transition: a smaller
// script, a smaller reply and less to decode on the way from a post to the model call.
// History below a run's position never changes within an epoch, so what is held stays true; a
// re-created thread has another epoch and is read whole again. The messages the run stores are
// added as it stores them, and its end records the thread's live seq then: while the thread has
// published nothing since (no post, no run elsewhere), what is held is the thread's whole context
// and the next post's run can be started before the post is stored (speculative-turn.ts).
import type { Message } from '../protocol/frames.ts';
import type { ContextMark, RunClaim, Store, StoredItem } from '../store/store.ts';
import { formatCursor, parseCursor } from '../store/cursor.ts';

/** Threads whose last context an instance holds (least recently started dropped first). */
const CACHED_THREADS = 500;

interface Entry {
  epoch: string;
  /** The offset of the newest message held; `messages` have contiguous offsets up to it. */
  position: number;
  messages: readonly Message[];
  /** Set at the end of the run that held it: the thread's live seq then (see `predict`). */
  liveSeq?: number | undefined;
}

export class ContextCache {
  private readonly entries = new Map<string, Entry>();
  private readonly store: Store;
  private readonly limit: number;

  constructor(store: Store, limit: number) {
    this.store = store;
    this.limit = limit;
  }

  /** What to tell a run start about the messages held for the thread. */
  mark(threadId: string): ContextMark | undefined {
    const entry = this.entries.get(threadId);
    return entry ? { epoch: entry.epoch, offset: entry.position } : undefined;
  }

  /** The claim's whole context (oldest first), completed from what is held; remembered for the next. */
  async contextOf(claim: RunClaim): Promise<Message[]> {
    const { threadId } = claim.lease;
    let messages: Message[];
    if (claim.contextAfter === 0) {
      messages = claim.context;
    } else {
      const held = this.entries.get(threadId);
      // What is held ends at its position and has contiguous offsets; history may have been trimmed
      // since (a prefix): keep only what it still holds.
      const earlier =
        held && held.epoch === claim.epoch && held.position === claim.contextAfter
          ? held.messages.slice(Math.max(0, claim.historyStart - (held.position - held.messages.length + 1)))
          : await this.readUpTo(threadId, claim.epoch, claim.contextAfter);
      messages = [...earlier, ...claim.context].slice(-this.limit);
    }
    this.entries.delete(threadId);
    this.entries.set(threadId, { epoch: claim.epoch, position: claim.position, messages });
    if (this.entries.size > CACHED_THREADS) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return messages;
  }

  /** The run stored `item` (a message of its own): held too when it follows what is held. */
  append(threadId: string, item: StoredItem): void {
    const entry = this.entries.get(threadId);
    if (!entry) return;
    const position = parseCursor(item.cursor);
    if (!position || position.epoch !== entry.epoch || position.offset !== entry.position + 1) {
      // Somebody else's message came in between (a post queued during the run): read it next time.
      this.entries.delete(threadId);
      return;
    }
    entry.messages = [...entry.messages, item.message].slice(-this.limit);
    entry.position = position.offset;
    entry.liveSeq = undefined;
  }

  /** The run that held the thread's context ended, its end published as live event `liveSeq`. */
  settle(threadId: string, liveSeq: number): void {
    const entry = this.entries.get(threadId);
    if (entry) entry.liveSeq = liveSeq;
  }

  /**
   * The context a run started by `post` will have, if the thread has published nothing since the
   * run that held it ended (`liveSeq` is the newest event this instance has seen of the thread);
   * else null.
   */
  predict(threadId: string, liveSeq: number, post: Message): readonly Message[] | null {
    const entry = this.entries.get(threadId);
    if (!entry || entry.liveSeq === undefined || entry.liveSeq !== liveSeq) return null;
    return [...entry.messages, post].slice(-this.limit);
  }

  forget(threadId: string): void {
    this.entries.delete(threadId);
  }

  /** What was held changed meanwhile (a concurrent start): read the messages up to `offset`. */
  private async readUpTo(threadId: string, epoch: string, offset: number): Promise<Message[]> {
    const page = await this.store.readBefore(threadId, formatCursor(epoch, offset + 1), this.limit);
    return page.items.map((item) => item.message);
  }
}
