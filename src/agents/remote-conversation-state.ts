// Where a model client keeps what it needs to continue a conversation whose state lives at the
// provider (the Responses API's `previous_response_id` chain), keyed by conversation (thread).
// The value is opaque to the store. In memory here; the server wires a Redis-backed one so that
// any instance can continue a thread.

export interface RemoteConversationState {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export class InMemoryConversationState implements RemoteConversationState {
  private readonly values = new Map<string, string>();

  get(key: string): Promise<string | null> {
    return Promise.resolve(this.values.get(key) ?? null);
  }

  set(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    this.values.delete(key);
    return Promise.resolve();
  }

  get size(): number {
    return this.values.size;
  }
}
