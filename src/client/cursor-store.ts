// Where a client keeps each thread's resume cursor between sessions: a page reload or a restarted
// process resumes after the last message it received instead of replaying the thread.
export interface CursorStore {
  get(threadId: string): string | null | undefined;
  /** `null` forgets the thread's cursor (it was deleted). */
  set(threadId: string, cursor: string | null): void;
}

/** The part of the Web Storage API used here (`localStorage`, `sessionStorage`, or your own). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Cursors kept in memory only (the default): a new client starts from the thread's newest messages. */
export function memoryCursorStore(): CursorStore {
  const cursors = new Map<string, string>();
  return {
    get: (threadId) => cursors.get(threadId),
    set: (threadId, cursor) => {
      if (cursor === null) cursors.delete(threadId);
      else cursors.set(threadId, cursor);
    },
  };
}

/** Cursors kept in Web Storage under `<prefix><threadId>`, e.g. `storageCursorStore(localStorage)`. */
export function storageCursorStore(storage: KeyValueStorage, prefix = 'chorus.cursor.'): CursorStore {
  return {
    get: (threadId) => storage.getItem(prefix + threadId),
    set: (threadId, cursor) => {
      if (cursor === null) storage.removeItem(prefix + threadId);
      else storage.setItem(prefix + threadId, cursor);
    },
  };
}
