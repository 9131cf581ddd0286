// Remote conversation state (the Responses API's response chains) kept with the thread in the
// store, so any instance can continue a thread and deleting the thread deletes it.
import type { RemoteConversationState } from '../agents/remote-conversation-state.ts';
import type { Store } from './store.ts';

const VALUE_NAME = 'remote-conversation';

export class StoreConversationState implements RemoteConversationState {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  /** `key` is the conversation key the server passes to model clients: the thread id. */
  get(key: string): Promise<string | null> {
    return this.store.getThreadValue(key, VALUE_NAME);
  }

  set(key: string, value: string): Promise<void> {
    return this.store.setThreadValue(key, VALUE_NAME, value);
  }

  delete(key: string): Promise<void> {
    return this.store.deleteThreadValue(key, VALUE_NAME);
  }
}
