// Scenario 5: gateway overhead on time to first token. A participant posts `bench … ttft=<ms>`;
// the bench model records when Chorus called it and when it yielded its first token; viewers on
// instance A (the one running the agent) and on instance B record when the first message-delta
// arrived. Overhead = (post sent → first delta at the viewer) − (model called → model's first
// token): everything Chorus adds before calling the model (store the post, lease, queue, history
// read, run-start, message-start) and after the model's token (publish, fan-out, send).
import { benchRequestText, BENCH_TEAM, type BenchTurnTiming } from '../bench-model.ts';
import type { ManagedChild } from '../lib/children.ts';
import { now, waitUntil } from '../lib/clock.ts';
import { ChorusClient, type ReceivedFrame } from '../lib/chorus-client.ts';
import { summarize, type LatencySummary } from '../lib/histogram.ts';

export interface TtftViewerResult {
  /** Overhead, ms. */
  overheadMs: LatencySummary;
  /** The part after the model's first token: first token → first delta at the viewer, ms. */
  afterModelMs: LatencySummary;
}

export interface TtftResult {
  runs: number;
  modelTtftMs: number;
  /**
   * When each milestone happened, ms after the post was sent (p50 over the runs), as seen by the
   * first viewer: where the time before the first token goes.
   */
  timeline: { milestone: string; p50: number; p90: number }[];
  /** Post sent → model called, ms (the same for every viewer). */
  beforeModelMs: LatencySummary;
  viewers: Record<string, TtftViewerResult>;
}

export interface TtftOptions {
  /** The instance that runs the agent (the poster connects here). */
  server: ManagedChild;
  portA: number;
  /** Viewers: label → port. */
  viewerPorts: Record<string, number>;
  runs: number;
  modelTtftMs: number;
  log: (line: string) => void;
}

export async function measureTtft(options: TtftOptions): Promise<TtftResult> {
  const threadId = `ttft-${Date.now().toString(36)}`;
  const poster = await ChorusClient.connect(`ws://127.0.0.1:${options.portA}/ws`, 'bench-ttft');
  const viewers: [string, ChorusClient][] = [];
  try {
    await poster.request({ type: 'create-thread', threadId, team: BENCH_TEAM }, 'thread-created');
    for (const [label, port] of Object.entries(options.viewerPorts)) {
      const viewer = await ChorusClient.connect(`ws://127.0.0.1:${port}/ws`, `bench-viewer-${label}`);
      viewers.push([label, viewer]);
      await viewer.request({ type: 'subscribe', threadId }, 'subscribed');
    }
    await options.server.request<BenchTurnTiming[]>('model-turns');
    const before: number[] = [];
    const milestones = [
      'posted (reply to the poster)',
      'message (the post, broadcast)',
      'run-start',
      'message-start',
      'model called',
      'model first token',
      'first message-delta',
    ];
    const timeline = new Map<string, number[]>(milestones.map((milestone) => [milestone, []]));
    const firstViewer = viewers[0]?.[1];
    if (!firstViewer) throw new Error('no viewer');
    const overhead = new Map<string, number[]>(viewers.map(([label]) => [label, []]));
    const afterModel = new Map<string, number[]>(viewers.map(([label]) => [label, []]));
    // Run 0 warms up (not recorded).
    for (let run = 0; run <= options.runs; run += 1) {
      const firstDeltas = viewers.map(([, viewer]) =>
        viewer.next(
          (frame) => frame.type === 'message-delta' && frame.fields.threadId === threadId,
          10_000,
          'the first message-delta',
        ),
      );
      const runEnds = viewers.map(([, viewer]) =>
        viewer.next(
          (frame) => frame.type === 'run-end' && frame.fields.threadId === threadId,
          10_000,
          'run-end',
        ),
      );
      const onFirst = (type: string) =>
        firstViewer.next((frame) => frame.type === type && frame.fields.threadId === threadId, 10_000, type);
      const seen = Promise.all([onFirst('message'), onFirst('run-start'), onFirst('message-start')]);
      const posted = poster.next(
        (frame) => frame.type === 'posted' && frame.fields.requestId === `ttft-${run}`,
        10_000,
        'posted',
      );
      const sent = now();
      poster.send({
        type: 'post',
        requestId: `ttft-${run}`,
        threadId,
        clientMessageId: `ttft-${run}`,
        text: benchRequestText({ rate: 1000, count: 5, ttftMs: options.modelTtftMs }),
      });
      const deltas: ReceivedFrame[] = await Promise.all(firstDeltas);
      await Promise.all(runEnds);
      const [message, runStart, messageStart] = await seen;
      const postedFrame = await posted;
      const turns = await options.server.request<BenchTurnTiming[]>('model-turns');
      const turn = turns.at(-1);
      if (!turn || turns.length !== 1)
        throw new Error(`expected one model turn per post, got ${turns.length}`);
      // The next post must find the thread idle (run over, lease released), or it would queue.
      const idle = await waitUntil(
        async () => options.server.request<boolean>('lease-free', { threadId }),
        5000,
        2,
      );
      if (!idle) throw new Error('the run lease was not released after run-end');
      if (run === 0) continue;
      const modelTtft = turn.firstTokenAt - turn.calledAt;
      before.push(turn.calledAt - sent);
      [
        postedFrame.receivedAt,
        message.receivedAt,
        runStart.receivedAt,
        messageStart.receivedAt,
        turn.calledAt,
        turn.firstTokenAt,
        deltas[0]!.receivedAt,
      ].forEach((at, index) => timeline.get(milestones[index]!)?.push(at - sent));
      viewers.forEach(([label], index) => {
        const delta = deltas[index]!;
        overhead.get(label)?.push(delta.receivedAt - sent - modelTtft);
        afterModel.get(label)?.push(delta.receivedAt - turn.firstTokenAt);
      });
    }
    const result: TtftResult = {
      runs: options.runs,
      modelTtftMs: options.modelTtftMs,
      beforeModelMs: summarize(before),
      timeline: milestones.map((milestone) => {
        const figures = summarize(timeline.get(milestone) ?? []);
        return { milestone, p50: figures.p50, p90: figures.p90 };
      }),
      viewers: Object.fromEntries(
        viewers.map(([label]) => [
          label,
          {
            overheadMs: summarize(overhead.get(label) ?? []),
            afterModelMs: summarize(afterModel.get(label) ?? []),
          },
        ]),
      ),
    };
    for (const [label, figures] of Object.entries(result.viewers)) {
      options.log(
        `    viewer ${label}: overhead p50 ${figures.overheadMs.p50.toFixed(2)} ms, p90 ${figures.overheadMs.p90.toFixed(2)} ms ` +
          `(post → model called p50 ${result.beforeModelMs.p50.toFixed(2)} ms; model token → viewer p50 ${figures.afterModelMs.p50.toFixed(2)} ms)`,
      );
    }
    return result;
  } finally {
    poster.close();
    for (const [, viewer] of viewers) viewer.close();
  }
}
