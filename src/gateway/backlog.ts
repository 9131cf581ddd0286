// A subscribe's backlog read in pages, so that a resume over a long gap never asks the store for
// more than RESUME_PAGE messages at once and never holds more than one page in memory.
import type { Store, StoredItem } from '../store/store.ts';

/** Messages read from the store per page of a resume. */
export const RESUME_PAGE = 100;

/** History was trimmed past the resume point while the backlog was being read. */
export class BacklogLost extends Error {
  constructor(threadId: string) {
    super(`history of thread ${threadId} was trimmed while its backlog was read`);
    this.name = 'BacklogLost';
  }
}

/**
 * Yields `first` (the first page, already read), then the following pages up to `count` messages
 * in all. Messages stored after the first read are not part of the backlog: they arrive live.
 */
export async function* backlogPages(
  store: Store,
  threadId: string,
  first: readonly StoredItem[],
  count: number,
): AsyncGenerator<StoredItem, void, void> {
  let remaining = count;
  let page = first;
  for (;;) {
    for (const item of page.slice(0, remaining)) {
      remaining -= 1;
      yield item;
    }
    const last = page.at(-1);
    if (remaining <= 0 || !last) return;
    // Let other work in (other clients, this client's next request) between pages: a long
    // backlog never holds the event loop, and an unsubscribe stops it after the page being sent.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const next = await store.readAfter(threadId, last.cursor, Math.min(RESUME_PAGE, remaining));
    if (!next.recovered) throw new BacklogLost(threadId);
    page = next.items;
  }
}
