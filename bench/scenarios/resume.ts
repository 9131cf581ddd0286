// Scenario 4: resume. A thread with 1,000 stored messages (written through the RedisStore, as runs
// would have); a client on instance B subscribes with the first message's cursor and so gets the
// 999 messages after it. Server time comes from the `chorus_subscribe_seconds` histogram on B's
// /metrics (its _sum grows by exactly this subscribe's time, which excludes waiting for the socket
// to drain); the client-side figure is subscribe sent → last backlog frame received, minus one
// ping round trip.
import { nanoid } from 'nanoid';
import type { Message } from '../../src/protocol/frames.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { BENCH_TEAM } from '../bench-model.ts';
import { now } from '../lib/clock.ts';
import { ChorusClient } from '../lib/chorus-client.ts';
import { summarize, type LatencySummary } from '../lib/histogram.ts';

export interface ResumeResult {
  messages: number;
  replayed: number;
  backlogBytes: number;
  rounds: number;
  /** chorus_subscribe_seconds per resume, ms. */
  serverMs: LatencySummary;
  /** Subscribe sent → last backlog frame, minus the ping RTT, ms. */
  clientMs: LatencySummary;
  pingRttMs: number;
}

export interface ResumeOptions {
  redisUrl: string;
  prefix: string;
  /** Instance B's port. */
  port: number;
  messages: number;
  rounds: number;
  log: (line: string) => void;
}

const WORDS = [
  'plan',
  'risk',
  'budget',
  'rollout',
  'the',
  'and',
  'review',
  'data',
  'flow',
  'edge',
  'case',
  'agent',
  'token',
];

function sentence(seed: number, words: number): string {
  return Array.from({ length: words }, (_, index) => WORDS[(seed * 7 + index * 3) % WORDS.length]).join(' ');
}

async function scrapeSubscribeSeconds(port: number): Promise<{ sum: number; count: number }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  const sum = /^chorus_subscribe_seconds_sum(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(text);
  const count = /^chorus_subscribe_seconds_count(?:\{[^}]*\})? ([\d.e+-]+)$/m.exec(text);
  if (!sum || !count) throw new Error('chorus_subscribe_seconds is not on /metrics');
  return { sum: Number(sum[1]), count: Number(count[1]) };
}

export async function measureResume(options: ResumeOptions): Promise<ResumeResult> {
  const threadId = `resume-${nanoid(6)}`;
  const store = await RedisStore.connect({ url: options.redisUrl, prefix: options.prefix });
  const cursors: string[] = [];
  let backlogBytes = 0;
  try {
    await store.createThread({ threadId, team: BENCH_TEAM });
    for (let index = 0; index < options.messages; index += 1) {
      const user = index % 4 === 0;
      const message: Message = {
        id: nanoid(16),
        role: user ? 'user' : 'assistant',
        author: user ? 'someone' : ['planner', 'writer', 'reviewer'][index % 3]!,
        text: sentence(index, user ? 20 : 80),
        status: 'completed',
        createdAt: new Date().toISOString(),
        ...(user
          ? {}
          : {
              runId: `run-${Math.floor(index / 4)}`,
              usage: { inputTokens: 900, outputTokens: 80, totalTokens: 980 },
            }),
      };
      const [item] = await store.importMessages(threadId, [message]);
      if (!item) throw new Error('import stored nothing');
      cursors.push(item.cursor);
      if (index > 0)
        backlogBytes += Buffer.byteLength(
          JSON.stringify({ type: 'message', threadId, cursor: item.cursor, message }),
        );
    }
  } finally {
    await store.close();
  }
  const firstCursor = cursors[0];
  if (!firstCursor) throw new Error('no messages were stored');
  const replayed = options.messages - 1;

  const client = await ChorusClient.connect(`ws://127.0.0.1:${options.port}/ws`, 'bench-resume');
  try {
    const rtts: number[] = [];
    for (let index = 0; index < 10; index += 1) {
      const sent = now();
      const pong = await client.request({ type: 'ping' }, 'pong');
      rtts.push(pong.receivedAt - sent);
    }
    const pingRttMs = summarize(rtts).p50;
    const server: number[] = [];
    const observed: number[] = [];
    // Round 0 warms up (not recorded). A round during which another client subscribed on the
    // instance (a viewer of an earlier scenario reconnecting) cannot be told apart: it is run
    // again, a bounded number of times.
    let retriesLeft = 5;
    for (let round = 0; round <= options.rounds; round += 1) {
      const before = await scrapeSubscribeSeconds(options.port);
      let received = 0;
      let lastAt = Number.NaN;
      const backlogDone = client.next(
        (frame) => {
          if (frame.type !== 'message' || frame.fields.threadId !== threadId) return false;
          received += 1;
          lastAt = frame.receivedAt;
          return received >= replayed;
        },
        15_000,
        `${replayed} backlog messages`,
      );
      const sent = now();
      const subscribed = await client.request(
        { type: 'subscribe', threadId, cursor: firstCursor },
        'subscribed',
        15_000,
      );
      if (subscribed.fields.recovered !== true || subscribed.fields.backlog !== replayed) {
        throw new Error(
          `resume answered recovered=${String(subscribed.fields.recovered)} backlog=${String(subscribed.fields.backlog)}`,
        );
      }
      await backlogDone;
      await client.request({ type: 'unsubscribe', threadId }, 'unsubscribed');
      // The server records the answer once its join is done, which may be just after the client
      // had the last backlog frame: wait (bounded) for the one new observation.
      let after = await scrapeSubscribeSeconds(options.port);
      for (let attempt = 0; attempt < 50 && after.count === before.count; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        after = await scrapeSubscribeSeconds(options.port);
      }
      if (after.count === before.count)
        throw new Error('the server recorded no subscribe time for the resume');
      if (after.count > before.count + 1) {
        if (retriesLeft === 0) throw new Error('other subscribes kept running during the resume measurement');
        retriesLeft -= 1;
        round -= 1;
        continue;
      }
      if (round === 0) continue;
      server.push((after.sum - before.sum) * 1000);
      observed.push(lastAt - sent - pingRttMs);
    }
    const result: ResumeResult = {
      messages: options.messages,
      replayed,
      backlogBytes,
      rounds: options.rounds,
      serverMs: summarize(server),
      clientMs: summarize(observed),
      pingRttMs,
    };
    options.log(
      `    resume of ${replayed} messages (${(backlogBytes / 1024).toFixed(0)} KB): server p50 ${result.serverMs.p50.toFixed(2)} ms, ` +
        `p90 ${result.serverMs.p90.toFixed(2)} ms, max ${result.serverMs.max.toFixed(2)} ms; client-observed p50 ${result.clientMs.p50.toFixed(2)} ms (ping RTT ${pingRttMs.toFixed(2)} ms)`,
    );
    return result;
  } finally {
    client.close();
  }
}
