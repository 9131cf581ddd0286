// Story: a viewer sees a run start, drops, and two runs end before it is back. Its resubscribe names
// the run it saw (`subscribe.runId`) and `subscribed.runEnd` tells how that run ended, while
// `lastRunEnd` is the later run's — over the WebSocket and the SSE stream (`?runId=`).
import { describe, expect, it } from 'vitest';
import { SseReader } from '../http/http-client.ts';
import { createThread, post, subscribe } from './thread-frames.ts';
import { gatewayStory } from './story.ts';

describe('the end of a run seen before a drop', () => {
  const story = gatewayStory({ CHORUS_MAX_ITERATIONS: '1' });
  const { open } = story;

  it('is told on the resubscribe that names it, though a later run ended too', async () => {
    const poster = await open('alice');
    const watcher = await open('bob');
    const threadId = await createThread(poster);
    await subscribe(poster, threadId);
    await subscribe(watcher, threadId);
    await post(poster, threadId, 'first');
    const first = await watcher.waitFor('run-start');
    await watcher.close();
    const firstEnd = await poster.waitFor('run-end', (frame) => frame.runId === first.runId);
    await post(poster, threadId, 'second');
    const secondEnd = await poster.waitFor('run-end', (frame) => frame.runId !== first.runId);

    const back = await open('bob');
    const answer = await back.request({ type: 'subscribe', threadId, runId: first.runId }, 'subscribed');
    expect(answer.runEnd).toEqual(firstEnd);
    expect(answer.lastRunEnd).toEqual(secondEnd);
    // Without runId, or naming a run the thread does not know: no runEnd.
    const plain = await subscribe(await open('carol'), threadId);
    expect(plain.subscribed).not.toHaveProperty('runEnd');
    expect(plain.subscribed.lastRunEnd).toEqual(secondEnd);
    const unknown = await (
      await open('dan')
    ).request({ type: 'subscribe', threadId, runId: 'nope' }, 'subscribed');
    expect(unknown).not.toHaveProperty('runEnd');

    const stream = await SseReader.open(
      `${story.server.url}/v1/threads/${threadId}/stream?runId=${first.runId}`,
    );
    try {
      const subscribed = await stream.waitFor((event) => event.json?.type === 'subscribed', 'subscribed');
      expect(subscribed.json).toMatchObject({ runEnd: firstEnd, lastRunEnd: secondEnd });
    } finally {
      stream.close();
    }
  });
});
