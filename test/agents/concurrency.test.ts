// The semaphore capping model streams: FIFO, abortable, observable.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Semaphore } from '../../src/agents/concurrency.ts';
import { OpenAIChatModel } from '../../src/agents/openai-chat-model.ts';
import { FakeOpenAI } from '../support/fake-openai.ts';
import { drain, textOf, userMessage, within } from './support.ts';

describe('Semaphore', () => {
  test('waiters get permits in arrival order', async () => {
    const semaphore = new Semaphore(1);
    const signal = new AbortController().signal;
    const first = await semaphore.acquire(signal);
    const order: string[] = [];
    const second = semaphore.acquire(signal).then((release) => (order.push('second'), release));
    const third = semaphore.acquire(signal).then((release) => (order.push('third'), release));
    expect(semaphore.waiting).toBe(2);
    expect(semaphore.active).toBe(1);
    first();
    first(); // a second release changes nothing
    (await within(second, 'second permit'))();
    (await within(third, 'third permit'))();
    expect(order).toEqual(['second', 'third']);
    expect(semaphore.active).toBe(0);
    expect(semaphore.waiting).toBe(0);
  });

  test('an aborted waiter leaves the queue and never holds a permit', async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire(new AbortController().signal);
    const controller = new AbortController();
    const abandoned = semaphore.acquire(controller.signal);
    const next = semaphore.acquire(new AbortController().signal);
    expect(semaphore.waiting).toBe(2);
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(abandoned).rejects.toBe(reason);
    expect(semaphore.waiting).toBe(1);
    release();
    (await within(next, 'the next waiter'))();
    expect(semaphore.active).toBe(0);
  });

  test('an already aborted signal is refused at once', async () => {
    const controller = new AbortController();
    controller.abort(new Error('no'));
    await expect(new Semaphore(2).acquire(controller.signal)).rejects.toThrow('no');
  });
});

describe('model streams under a cap', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await FakeOpenAI.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  test('a second stream waits for the first to end before its request is sent', async () => {
    const concurrency = new Semaphore(1);
    const model = new OpenAIChatModel({ apiKey: 'k', baseURL: fake.baseURL, model: 'm', concurrency });
    const request = () => ({
      agent: { name: 'a', instructions: '' },
      messages: [userMessage('hi')],
      signal: new AbortController().signal,
    });
    fake.script({ fixture: 'chat-long-text', delayMs: 5 }, { fixture: 'chat-text' });
    const firstIterator = model.stream(request())[Symbol.asyncIterator]();
    await within(firstIterator.next(), 'first stream started');
    const second = drain(model.stream(request()));
    await vi.waitFor(() => expect(concurrency.waiting).toBe(1), { timeout: 2000, interval: 5 });
    expect(fake.requests).toHaveLength(1);

    const rest = await drain({ [Symbol.asyncIterator]: () => firstIterator });
    expect(rest.error).toBeUndefined();
    const { events, error } = await second;
    expect(error).toBeUndefined();
    expect(textOf(events)).toBe('Hello from Chorus.');
    expect(fake.requests).toHaveLength(2);
    expect(concurrency.active).toBe(0);
  });
});
