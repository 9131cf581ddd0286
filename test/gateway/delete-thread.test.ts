// Story: a participant deletes a thread while its agents are mid-run. The run stops, every viewer
// is told `thread-deleted` and unsubscribed, the requester gets its reply, and from then on the
// thread does not exist for anyone.
import { describe, expect, it } from 'vitest';
import { createThread, post, subscribe, threadEvents, uniqueId } from './thread-frames.ts';
import { gatewayStory } from './story.ts';

describe('delete-thread', () => {
  const story = gatewayStory({ CHORUS_DEMO_TOKENS_PER_SECOND: '200' });
  const { open } = story;

  it('stops the run, tells every subscriber, answers the requester, then the thread is not-found', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    const owner = await open('owner');
    const threadId = await createThread(owner);
    const otherThreadId = await createThread(owner);
    await subscribe(alice, threadId);
    await subscribe(bob, threadId);
    await subscribe(bob, otherThreadId);
    await post(owner, threadId, 'Start something long');
    const messageStart = await alice.waitFor('message-start');
    await bob.waitFor(
      'message-delta',
      (delta) => delta.messageId === messageStart.messageId && delta.seq >= 2,
    );

    const reply = await owner.request({ type: 'delete-thread', threadId }, 'thread-deleted');
    expect(reply).toMatchObject({ threadId, requestId: expect.any(String) });

    for (const viewer of [alice, bob]) {
      const deleted = await viewer.waitFor('thread-deleted', (frame) => frame.threadId === threadId);
      expect(deleted.requestId).toBeUndefined();
      // Nothing of the thread after thread-deleted (a ping round trip bounds "after").
      const pong = await viewer.request({ type: 'ping' }, 'pong');
      const after = viewer.frames.slice(viewer.frames.indexOf(deleted) + 1, viewer.frames.indexOf(pong));
      expect(threadEvents(after, threadId)).toEqual([]);
      // thread-deleted is the thread's last event; the run it stopped started once.
      const events = threadEvents(viewer.frames, threadId);
      expect(events.at(-1)).toEqual(deleted);
      expect(events.filter((frame) => frame.type === 'run-start')).toHaveLength(1);
    }

    // The thread is gone for everyone, subscribers included.
    for (const client of [alice, bob, owner]) {
      expect(await client.request({ type: 'subscribe', threadId })).toMatchObject({
        type: 'error',
        code: 'not-found',
      });
      expect(
        await client.request({ type: 'post', threadId, clientMessageId: uniqueId('late'), text: 'hello?' }),
      ).toMatchObject({
        type: 'error',
        code: 'not-found',
      });
      expect(await client.request({ type: 'history', threadId })).toMatchObject({
        type: 'error',
        code: 'not-found',
      });
      expect(await client.request({ type: 'delete-thread', threadId })).toMatchObject({
        type: 'error',
        code: 'not-found',
      });
    }

    // Bob's other subscription is untouched; the owner can create the id afresh.
    await post(owner, otherThreadId, 'Still here?');
    expect(await bob.waitFor('message', (frame) => frame.threadId === otherThreadId)).toMatchObject({
      message: { text: 'Still here?' },
    });
    const recreated = await owner.request({ type: 'create-thread', threadId }, 'thread-created');
    expect(recreated.existing).toBe(false);
    const { subscribed, backlog } = await subscribe(alice, threadId);
    expect(subscribed).toMatchObject({ backlog: 0, cursor: null });
    expect(backlog).toEqual([]);
  });
});
