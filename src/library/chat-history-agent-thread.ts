// A conversation held by the library (SK's ChatHistoryAgentThread): the finished messages, oldest
// first, and the model clients that keep remote state for it (the Responses API). `delete()` is
// final: it deletes that remote state and empties the thread; using a deleted thread throws.
import { nanoid } from 'nanoid';
import type { ModelClient } from '../agents/model-client.ts';
import type { Message } from '../protocol/frames.ts';

export class ChatHistoryAgentThread {
  /** Also the conversation key under which model clients keep remote state. */
  readonly id: string;
  private readonly history: Message[];
  private readonly remote = new Set<ModelClient>();
  private deleted = false;

  constructor(options: { id?: string; messages?: readonly Message[] } = {}) {
    this.id = options.id ?? `thread-${nanoid(12)}`;
    this.history = [...(options.messages ?? [])];
  }

  /** Idempotent (the thread exists from construction); resolves with the id. */
  create(): Promise<string> {
    this.assertUsable();
    return Promise.resolve(this.id);
  }

  /** The finished messages, oldest first (SK: `async for message in thread.get_messages()`). */
  async *getMessages(): AsyncGenerator<Message, void, void> {
    this.assertUsable();
    for (const message of [...this.history]) yield message;
  }

  /** The finished messages, oldest first, as an array. */
  get messages(): readonly Message[] {
    return [...this.history];
  }

  get isDeleted(): boolean {
    return this.deleted;
  }

  /** Deletes the remote state of every model that served this thread, then the local history. */
  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    const models = [...this.remote];
    this.remote.clear();
    this.history.length = 0;
    await Promise.all(models.map((model) => model.deleteConversation?.(this.id)));
  }

  /** @internal Adds finished messages (the agents call this). */
  append(...messages: Message[]): void {
    this.assertUsable();
    this.history.push(...messages);
  }

  /** @internal Remembers a model whose remote state belongs to this thread. */
  served(model: ModelClient): void {
    if (model.deleteConversation) this.remote.add(model);
  }

  /** @internal */
  assertUsable(): void {
    if (this.deleted) throw new Error(`thread ${this.id} was deleted`);
  }
}
