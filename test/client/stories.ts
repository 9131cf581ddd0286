// The SDK's reconnect and resume stories, run against a deployment (memory: one instance; Redis:
// two instances). A watcher client follows a thread through a TCP proxy while a poster, connected
// directly, starts a run; the network or the server then fails mid-message, and the watcher must
// end up with exactly the stored history — nothing missed, nothing twice, each message's text
// shown once — and its posts stored once.
import { afterEach, describe, expect, it } from 'vitest';
import { ChorusClient, type ChorusClientOptions } from '../../src/client/index.ts';
import type { ChorusThread } from '../../src/client/thread.ts';
import type { EnvOverrides } from '../support/server.ts';
import { expectViewEqualsHistory, FAST_CLIENT, TextLog, until, type Deployment } from './support.ts';

const STORY_TIMEOUT_MS = 60_000;

export function clientStories(label: string, deploy: (env?: EnvOverrides) => Promise<Deployment>): void {
  describe(`client SDK against ${label}`, () => {
    let deployment: Deployment | undefined;
    const clients: ChorusClient[] = [];

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await deployment?.close();
      deployment = undefined;
    });

    const client = (url: string, options: Partial<ChorusClientOptions> = {}) => {
      const made = new ChorusClient({ ...FAST_CLIENT, url, ...options });
      clients.push(made);
      return made;
    };

    /** A watcher (through the proxy) and a poster (direct) on a new thread, both live. */
    async function setUp(env: EnvOverrides = {}, watcherOptions: Partial<ChorusClientOptions> = {}) {
      deployment = await deploy(env);
      const watcher = client(deployment.proxy.wsUrl, { user: 'watcher', ...watcherOptions });
      const { threadId } = await watcher.createThread();
      const thread = watcher.thread(threadId);
      const log = new TextLog(thread);
      const poster = client(deployment.posterUrl(), { user: 'poster' });
      const posterThread = poster.thread(threadId);
      await until(
        [thread, posterThread],
        'both subscriptions live',
        () => thread.status === 'live' && posterThread.status === 'live',
      );
      /** `resumed` of every later subscription of the watcher (each reconnect). */
      const subscribed: boolean[] = [];
      thread.on('subscribed', ({ resumed }) => subscribed.push(resumed));
      return { deployment, watcher, thread, log, poster, posterThread, subscribed };
    }

    /** The poster posts; resolves once the watcher sees an agent message streaming. */
    async function startRun(thread: ChorusThread, posterThread: ChorusThread): Promise<void> {
      posterThread.post('Plan a picnic for six');
      await until([thread], 'an agent message streaming on the watcher', () =>
        thread.streaming.some((item) => item.text.length > 0),
      );
    }

    /** setUp, then a run streaming on the watcher. */
    async function setUpMidRun() {
      const setup = await setUp();
      await startRun(setup.thread, setup.posterThread);
      return setup;
    }

    const runEnded = (thread: ChorusThread) =>
      until([thread], 'the run to end', () => thread.lastRunEnd !== null && thread.run === null, {
        timeoutMs: 30_000,
      });

    /**
     * After a fault: the run ends (as the poster sees it), the watcher resumed once (recovered)
     * and its view is the stored history, each message's text shown once.
     */
    async function expectResumed(
      setup: Awaited<ReturnType<typeof setUp>>,
      options: { runEndSeen?: boolean } = {},
    ) {
      if (options.runEndSeen ?? true) await runEnded(setup.posterThread);
      const history = await expectViewEqualsHistory(setup.thread, setup.deployment);
      expect(setup.subscribed).toEqual([true]);
      expect(setup.watcher.state).toBe('connected');
      setup.log.expectShownOnce(history);
      return history;
    }

    it(
      'reconnects after the server closes the connection (1001) and resumes without gap or duplicate',
      async () => {
        const setup = await setUpMidRun();
        const { deployment, watcher, thread } = setup;
        const states: string[] = [];
        watcher.on('state', ({ state }) => states.push(state));
        await deployment.closePrimary();
        await until(
          [watcher, thread],
          'the watcher to reconnect and resubscribe',
          () => states.includes('reconnecting') && watcher.state === 'connected' && thread.status === 'live',
        );
        // A memory instance's drain ends the run (interrupted) before it closes: its run-end may be lost with the poster's connection.
        await expectResumed(setup, { runEndSeen: deployment.label !== 'memory' });
        expect(watcher.connection.lastClose?.code).toBe(1001);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'reconnects after a dropped TCP connection mid-message and resumes without gap or duplicate',
      async () => {
        const setup = await setUpMidRun();
        const { deployment, watcher } = setup;
        deployment.failover();
        deployment.proxy.cut();
        const history = await expectResumed(setup);
        expect(watcher.connection.lastClose?.code).toBe(1006);
        expect(history.filter((message) => message.role === 'assistant').length).toBeGreaterThan(1);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'notices a silent blackhole within the liveness deadline, reconnects and resumes',
      async () => {
        const setup = await setUpMidRun();
        const { deployment, watcher } = setup;
        const started = Date.now();
        deployment.failover();
        deployment.proxy.blackhole();
        await until(
          [watcher],
          'the watcher to notice the dead connection',
          () => watcher.state !== 'connected',
          {
            timeoutMs: 10_000,
          },
        );
        const noticedAfterMs = Date.now() - started;
        // The deadline: pingIntervalMs + pingTimeoutMs after the last frame (plus slack for a loaded machine);
        // the server's own heartbeat would take 50 s.
        const deadline = (FAST_CLIENT.pingIntervalMs ?? 0) + (FAST_CLIENT.pingTimeoutMs ?? 0);
        expect(noticedAfterMs).toBeLessThan(deadline + 3000);
        expect(watcher.connection.lastClose?.reason).toMatch(/no frame for \d+ ms/);
        await expectResumed(setup);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'rebuilds the view when the resume is not recovered (history trimmed past its cursor)',
      async () => {
        const { deployment, watcher, thread, log, posterThread } = await setUp({
          CHORUS_HISTORY_MAXLEN: '2',
        });
        posterThread.post('First question');
        await runEnded(posterThread);
        await until([thread], 'the first run in the watcher view', () => thread.lastRunEnd !== null);
        const before = thread.messages.map((item) => item.id);
        const resets: boolean[] = [];
        thread.on('reset', ({ recovered }) => resets.push(recovered));
        deployment.proxy.refuse(true);
        deployment.proxy.cut();
        await until([watcher], 'the watcher to lose its connection', () => watcher.state === 'reconnecting');
        const second = posterThread.lastRunEnd;
        posterThread.post('Second question');
        await until(
          [posterThread],
          'the second run to end',
          () => posterThread.lastRunEnd !== second && posterThread.run === null,
          {
            timeoutMs: 30_000,
          },
        );
        deployment.failover();
        deployment.proxy.refuse(false);
        const history = await expectViewEqualsHistory(thread, deployment);
        expect(resets).toEqual([false]);
        expect(history).toHaveLength(2);
        expect(history.map((message) => message.id).some((id) => before.includes(id))).toBe(false);
        log.expectShownOnce(history);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'tells the end of a run that ended while the client was offline, once, after the resume',
      async () => {
        const setup = await setUpMidRun();
        const { deployment, watcher, thread, posterThread } = setup;
        const activeRun = thread.run;
        expect(activeRun).not.toBeNull();
        const ends: string[] = [];
        thread.on('run-end', (end) => ends.push(end.runId));
        deployment.proxy.refuse(true);
        deployment.proxy.cut();
        await until([watcher], 'the watcher to lose its connection', () => watcher.state === 'reconnecting');
        await runEnded(posterThread);
        deployment.failover();
        deployment.proxy.refuse(false);
        await until([thread], 'the run-end on the watcher', () => ends.length > 0, { timeoutMs: 30_000 });
        expect(ends).toEqual([activeRun!.runId]);
        expect(thread.lastRunEnd).toEqual(posterThread.lastRunEnd);
        expect(thread.run).toBeNull();
        await expectResumed(setup);
        expect(ends).toHaveLength(1);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'sends a post made while offline after the reconnect, and it is stored once',
      async () => {
        const { deployment, watcher, thread } = await setUp();
        deployment.proxy.refuse(true);
        deployment.proxy.cut();
        await until([watcher], 'the watcher to lose its connection', () => watcher.state === 'reconnecting');
        const post = thread.post('Written offline');
        expect(post.state).toBe('pending');
        expect(thread.items().at(-1)).toMatchObject({
          kind: 'post',
          status: 'sending',
          text: 'Written offline',
        });
        await until([watcher], 'a failed reconnect attempt', () => watcher.connection.attempt >= 2);
        expect(post.state).toBe('pending');
        deployment.failover();
        deployment.proxy.refuse(false);
        const result = await post.done;
        expect(post.state).toBe('sent');
        await until([thread], 'the post in the view', () =>
          thread.messages.some((item) => item.id === result.messageId),
        );
        const history = await deployment.history(thread.threadId);
        expect(history.filter((message) => message.clientMessageId === post.clientMessageId)).toHaveLength(1);
        const shown = thread.items().filter((item) => item.clientMessageId === post.clientMessageId);
        expect(shown).toHaveLength(1);
        expect(shown[0]).toMatchObject({ kind: 'message', status: 'completed', author: 'watcher' });
        expect(shown[0]?.post).toBe(post);
      },
      STORY_TIMEOUT_MS,
    );

    it(
      'retries a post whose reply timed out, and it is stored once',
      async () => {
        const { deployment, thread } = await setUp({}, { requestTimeoutMs: 400 });
        // The post reaches the server; nothing the server sends reaches the client any more.
        deployment.failover();
        deployment.proxy.blackhole('to-client');
        const post = thread.post('Did this arrive?');
        await until([thread], 'the first attempt to time out', () => post.attempts >= 1, { timeoutMs: 5000 });
        expect(post.state).toBe('pending');
        expect(post.error?.code).toBe('timeout');
        const result = await post.done;
        expect(post.state).toBe('sent');
        await until([thread], 'the post in the view', () =>
          thread.messages.some((item) => item.id === result.messageId),
        );
        const history = await deployment.history(thread.threadId);
        expect(history.filter((message) => message.clientMessageId === post.clientMessageId)).toHaveLength(1);
        expect(thread.items().filter((item) => item.clientMessageId === post.clientMessageId)).toHaveLength(
          1,
        );
      },
      STORY_TIMEOUT_MS,
    );
  });
}
