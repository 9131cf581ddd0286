// Story: a client's post hangs in the store (a slow Redis), and meanwhile its thread is busy. The
// events of that thread wait for the post's reply on this client's socket (`posted` comes before
// the broadcast), so they are held — but not without bound: past CHORUS_MAX_HELD_BYTES the
// client is closed with 4008, resumes, and misses nothing, while the other viewers are untouched.
// Under the bound the held events follow `posted`, in order.
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig, type Env } from '../../src/config.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { PostInput } from '../../src/store/store.ts';
import { connect, type TestClient } from '../support/ws-client.ts';
import { createThread, post, subscribe, uniqueId } from './thread-frames.ts';

/** A store whose post hangs for posts whose clientMessageId starts with "stuck". */
class StuckPostStore extends MemoryStore {
  entered!: Promise<void>;
  private enter!: () => void;
  private open!: () => void;
  private gate!: Promise<void>;

  constructor() {
    super();
    this.reset();
  }

  /** Arms the gate: the next stuck post waits until release(). */
  reset(): void {
    this.entered = new Promise((resolve) => (this.enter = resolve));
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
  }

  override async post(input: PostInput) {
    if (input.message.clientMessageId?.startsWith('stuck')) {
      this.enter();
      await this.gate;
    }
    return super.post(input);
  }
}

describe('events held for a post in flight', () => {
  let app: App | undefined;
  let store: StuckPostStore;
  const clients: TestClient[] = [];

  async function start(env: Partial<Record<keyof Env, string>>): Promise<string> {
    store = new StuckPostStore();
    app = await createApp({
      config: loadConfig({ PORT: '0', HOST: '127.0.0.1', CHORUS_DEMO_TOKENS_PER_SECOND: '2000', ...env }),
      store,
    });
    const port = await app.start();
    return `ws://127.0.0.1:${port}/ws`;
  }

  const open = async (url: string, user: string) => {
    const client = await connect(url, { hello: { user } });
    clients.push(client);
    return client;
  };

  afterEach(async () => {
    store.release();
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await app?.shutdown(0);
    app = undefined;
  });

  it('closes the poster with 4008 past CHORUS_MAX_HELD_BYTES; it resumes and misses nothing', async () => {
    const url = await start({
      CHORUS_MAX_HELD_BYTES: '8192',
      CHORUS_POST_RATE: '0',
      CHORUS_QUEUE_MAX: '100',
    });
    const [poster, viewer, writer] = [
      await open(url, 'poster'),
      await open(url, 'viewer'),
      await open(url, 'writer'),
    ];
    const threadId = await createThread(writer);
    for (const client of [poster, viewer, writer]) await subscribe(client, threadId);

    poster.send({ type: 'post', requestId: 'stuck', threadId, clientMessageId: 'stuck-1', text: 'mine' });
    await store.entered;
    const written: string[] = [];
    const big = 'a long contribution '.repeat(150); // ~3 KB per broadcast message
    while (!poster.closeStatus) {
      if (written.length >= 20) throw new Error(`the poster was not closed after ${written.length} posts`);
      written.push((await post(writer, threadId, big, uniqueId('big'))).messageId);
      if (poster.closeStatus) break;
      // Let the broadcast reach every socket before deciding whether to write more.
      await viewer.waitFor('message', (frame) => frame.message.id === written.at(-1));
    }
    expect(await poster.waitForClose()).toMatchObject({
      code: 4008,
      reason: 'slow consumer: too many events held for posts in flight',
    });
    // Nothing was sent past the hold: no reply, no event after the subscribe.
    expect(poster.frames.filter((frame) => frame.type === 'message' || frame.type === 'posted')).toEqual([]);
    expect(written.length).toBeGreaterThanOrEqual(2);

    // The viewer saw every message and is still served.
    for (const id of written)
      await viewer.find((frame) => frame.type === 'message' && frame.message.id === id);
    expect(viewer.isOpen).toBe(true);
    expect(writer.isOpen).toBe(true);

    // The stuck post completes in the store; the poster comes back and misses nothing.
    store.release();
    const stored = await viewer.waitFor('message', (frame) => frame.message.clientMessageId === 'stuck-1');
    const returning = await open(url, 'poster');
    const { backlog } = await subscribe(returning, threadId);
    const ids = backlog.map((frame) => frame.message.id);
    for (const id of [...written, stored.message.id]) expect(ids).toContain(id);
    const retry = await returning.request(
      { type: 'post', threadId, clientMessageId: 'stuck-1', text: 'mine' },
      'posted',
    );
    expect(retry).toMatchObject({ duplicate: true, messageId: stored.message.id });
  });

  it('sends the held events after posted, in order, under the bound', async () => {
    const url = await start({});
    const [poster, writer] = [await open(url, 'poster'), await open(url, 'writer')];
    const threadId = await createThread(writer);
    await subscribe(poster, threadId);
    await subscribe(writer, threadId);

    poster.send({ type: 'post', requestId: 'stuck', threadId, clientMessageId: 'stuck-2', text: 'first' });
    await store.entered;
    const other = await post(writer, threadId, 'meanwhile');
    await writer.waitFor('message', (frame) => frame.message.id === other.messageId);
    // The poster's socket is served (pong), but the thread's event waits for its post's reply.
    await poster.request({ type: 'ping' }, 'pong');
    expect(poster.frames.some((frame) => frame.type === 'message')).toBe(false);

    store.release();
    const posted = await poster.waitFor('posted', (frame) => frame.requestId === 'stuck');
    const held = await poster.waitFor('message', (frame) => frame.message.id === other.messageId);
    const own = await poster.waitFor('message', (frame) => frame.message.id === posted.messageId);
    const order = [posted, held, own].map((frame) => poster.frames.indexOf(frame));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(poster.isOpen).toBe(true);
  });
});
