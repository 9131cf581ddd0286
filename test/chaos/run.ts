// `npm run chaos`: the exactly-once promise under faults, end to end, with real processes on
// loopback. Per seed: a redis-server of its own (AOF, `appendfsync always`, temp dir, free port),
// three Chorus instances, two threads, viewers that drop at random and resume by cursor on random
// instances, participants that retry each post (same clientMessageId) until it is answered; while
// runs stream, in an order the seed picks: the instance running a thread is SIGKILLed, one running
// a thread is SIGSTOPped past its lease and then SIGCONTed, and Redis is restarted once. At the end it
// counts lost, duplicated, reordered, unanswered and doubly answered posts and what viewers missed
// or saw twice: all must be 0 (exit status 1 otherwise).
//
//   npm run chaos                   the fixed seeds (CI)
//   npm run chaos -- --random       one random seed (printed, so that a failure can be replayed)
//   npm run chaos -- --seed 42      one given seed (or CHAOS_SEED=42)
//
// Bounded: a watchdog fails the run after CHAOS_BOUND_MS; every child (Redis, Chorus) is killed
// when this process exits, however it exits.
import { createThread } from '../gateway/thread-frames.ts';
import { startRedisServer, type RedisServer } from '../support/redis.ts';
import {
  auditPosts,
  auditTranscript,
  ChorusCluster,
  LEASE_MS,
  poll,
  Poster,
  runsSeen,
  seededRandom,
  SLOW_TOKENS,
  storedHistory,
  Viewer,
  waitForQuiescence,
  type Instance,
} from '../cluster/support.ts';

const FIXED_SEEDS = [1, 2, 3, 4, 5];
const THREADS = 2;
const POSTS_PER_THREAD = 8;
const VIEWERS_PER_THREAD = 4;
/** The whole run, all seeds (a CI bound of about 5 minutes). */
const BOUND_MS = Number(process.env.CHAOS_BOUND_MS ?? 330_000);
/** One round (one seed). */
const ROUND_BOUND_MS = 150_000;

interface RoundReport {
  seed: number;
  lost: number;
  duplicated: number;
  reordered: number;
  unanswered: number;
  doublyAnswered: number;
  viewerMissing: number;
  viewerDoubled: number;
  /** Problems that are not counts: a viewer that could not resume, a run started twice … */
  failures: string[];
  posts: number;
  postRetries: number;
  runs: number;
  resumes: number;
  drops: number;
  failovers: number;
  kills: number;
  stalls: number;
  redisRestarts: number;
  durationMs: number;
}

function seedsFromArguments(): number[] {
  const args = process.argv.slice(2);
  const seedIndex = args.indexOf('--seed');
  if (seedIndex >= 0) return [parseSeed(args[seedIndex + 1])];
  if (process.env.CHAOS_SEED) return [parseSeed(process.env.CHAOS_SEED)];
  if (args.includes('--random')) return [Math.floor(Math.random() * 1_000_000_000)];
  const unknown = args.filter((arg) => arg !== '--');
  if (unknown.length > 0) throw new Error(`unknown arguments: ${unknown.join(' ')} (--random, --seed N)`);
  return FIXED_SEEDS;
}

function parseSeed(value: string | undefined): number {
  const seed = Number(value);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`not a seed: ${value}`);
  return seed;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(seed: number, text: string): void {
  console.log(`[chaos seed ${seed} +${Math.round(performance.now() / 1000)}s] ${text}`);
}

async function round(seed: number): Promise<RoundReport> {
  const started = Date.now();
  const random = seededRandom(seed);
  const report: RoundReport = {
    seed,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    unanswered: 0,
    doublyAnswered: 0,
    viewerMissing: 0,
    viewerDoubled: 0,
    failures: [],
    posts: 0,
    postRetries: 0,
    runs: 0,
    resumes: 0,
    drops: 0,
    failovers: 0,
    kills: 0,
    stalls: 0,
    redisRestarts: 0,
    durationMs: 0,
  };
  let redis: RedisServer | undefined;
  let chorus: ChorusCluster | undefined;
  try {
    redis = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const server = redis;
    chorus = await ChorusCluster.start({
      redisUrl: server.url,
      names: ['A', 'B', 'C'],
      env: {
        CHORUS_DEMO_TOKENS_PER_SECOND: SLOW_TOKENS,
        CHORUS_MAX_ITERATIONS: '2',
      },
      // The Redis is this round's own: stopping it is the cleanup.
      cleanup: false,
    });
    const cluster = chorus;
    const paused = new Set<Instance>();
    /** A random instance that is running and not stalled. */
    const anyServing = (): Instance => {
      const serving = cluster.alive().filter((instance) => !paused.has(instance));
      return serving[Math.floor(random() * serving.length)] ?? cluster.instances[0]!;
    };

    const setup = await cluster.connect(cluster.instances[0]!, 'setup');
    const threads: string[] = [];
    for (let index = 0; index < THREADS; index += 1) threads.push(await createThread(setup));
    await setup.close();

    // Per thread: an observer that only resumes when its connection is lost, and viewers that drop too.
    const observers = new Map<string, Viewer>();
    const viewers = new Map<string, Viewer[]>();
    for (const [threadIndex, threadId] of threads.entries()) {
      const observer = new Viewer(cluster, `observer-${threadIndex + 1}`, threadId);
      await observer.open(cluster.instances[threadIndex % 3]!);
      observer.resumeAutomatically(anyServing);
      observers.set(threadId, observer);
      const list: Viewer[] = [];
      for (let index = 0; index < VIEWERS_PER_THREAD; index += 1) {
        const viewer = new Viewer(cluster, `viewer-${threadIndex + 1}.${index + 1}`, threadId);
        await viewer.open(cluster.instances[(threadIndex + index) % 3]!);
        viewer.resumeAutomatically(anyServing);
        list.push(viewer);
      }
      viewers.set(threadId, list);
    }
    const everyViewer = (threadId: string): Viewer[] => [observers.get(threadId)!, ...viewers.get(threadId)!];

    let stopped = false;
    const droppers = [...viewers.values()].flat().map(async (viewer) => {
      while (!stopped) {
        await delay(300 + Math.floor(random() * 2500)); // chaos: drops at random moments
        if (stopped) return;
        try {
          await viewer.dropAndResume(anyServing);
        } catch (error) {
          report.failures.push(
            `${viewer.name} could not resume: ${error instanceof Error ? error.message : String(error)}`,
          );
          return;
        }
        report.drops += 1;
      }
    });

    // Participants: one per thread, posting at random intervals, each post retried until answered.
    const answers = new Map<string, { text: string; posted: Awaited<ReturnType<Poster['post']>> }[]>();
    const posters: Poster[] = [];
    const posting = threads.map(async (threadId, threadIndex) => {
      const poster = new Poster(cluster, `participant-${threadIndex + 1}`, threadId, anyServing);
      posters.push(poster);
      const list: { text: string; posted: Awaited<ReturnType<Poster['post']>> }[] = [];
      answers.set(threadId, list);
      for (let index = 1; index <= POSTS_PER_THREAD; index += 1) {
        await delay(Math.floor(random() * 3500));
        const text = `Thread ${threadIndex + 1}, question ${index}: step ${index} of the plan (seed ${seed})`;
        list.push({ text, posted: await poster.post(text, `chaos-${seed}-${threadIndex}-${index}`, 90_000) });
        report.posts += 1;
      }
      await poster.close();
    });

    /** Waits (bounded) for an agent message streaming on some thread; answers its thread, run and runner. */
    const streaming = async (): Promise<{ threadId: string; runId: string; runner?: Instance }> => {
      const marks = new Map(
        threads
          .flatMap((threadId) => everyViewer(threadId))
          .map((viewer) => [viewer, viewer.events().length]),
      );
      const found = await poll('a message streaming', 30_000, () => {
        for (const threadId of threads) {
          for (const viewer of everyViewer(threadId)) {
            const events = viewer.events();
            const delta = events.slice(marks.get(viewer)).find((event) => event.type === 'message-delta');
            if (!delta) continue;
            const runStart = events.findLast((event) => event.type === 'run-start');
            if (runStart?.type !== 'run-start') continue;
            const ended = events.some((event) => event.type === 'run-end' && event.runId === runStart.runId);
            if (!ended) return { threadId, runId: runStart.runId };
          }
        }
        return undefined;
      });
      const runner = await cluster.runner(found.threadId, found.runId, 3000).catch(() => undefined);
      return { ...found, ...(runner ? { runner } : {}) };
    };

    const faults: Record<string, () => Promise<void>> = {
      kill: async () => {
        const { runner } = await streaming();
        const victim = runner && !paused.has(runner) ? runner : anyServing();
        log(seed, `SIGKILL ${victim.name}`);
        await cluster.kill(victim);
        report.kills += 1;
      },
      stall: async () => {
        const { threadId, runId, runner } = await streaming();
        const victim = runner && cluster.alive().includes(runner) ? runner : anyServing();
        if (cluster.alive().filter((instance) => instance !== victim).length === 0) return;
        log(seed, `SIGSTOP ${victim.name}`);
        cluster.pause(victim);
        paused.add(victim);
        report.stalls += 1;
        try {
          // Past its lease: until another instance ended its run (recovered), or a bound.
          // (Viewers on the stalled instance see nothing meanwhile: any viewer of the thread will do.)
          const pastLease = delay(2 * LEASE_MS + Math.floor(random() * 1000));
          await poll('the stalled run to be recovered', Math.max(10_000, LEASE_MS * 8), () =>
            everyViewer(threadId).some((viewer) =>
              viewer.events().some((event) => event.type === 'run-end' && event.runId === runId),
            )
              ? true
              : undefined,
          ).catch(() => log(seed, `the run ${runId} of the stalled instance was not recovered meanwhile`));
          await pastLease;
        } finally {
          log(seed, `SIGCONT ${victim.name}`);
          cluster.resume(victim);
          paused.delete(victim);
        }
      },
      redis: async () => {
        await streaming();
        log(seed, 'restarting Redis');
        await server.restart();
        report.redisRestarts += 1;
      },
    };
    const order = Object.keys(faults).sort(() => random() - 0.5);
    log(seed, `faults in order: ${order.join(', ')}`);
    const faulting = (async () => {
      for (const name of order) {
        await delay(1000 + Math.floor(random() * 3000)); // chaos: faults at random moments
        await faults[name]!();
      }
    })();

    await Promise.all([faulting, ...posting]);
    log(seed, 'every post answered; waiting for the threads to go quiet');
    for (const threadId of threads) await waitForQuiescence(cluster, threadId, 60_000);
    stopped = true;
    await Promise.all(droppers);

    // The audit.
    const auditor = cluster.alive()[0]!;
    report.postRetries = posters.reduce((sum, poster) => sum + poster.retries, 0);
    for (const threadId of threads) {
      const history = await storedHistory(cluster, auditor, threadId);
      const finalCursor = history.at(-1)?.cursor;
      const list = everyViewer(threadId);
      for (const viewer of list) {
        try {
          await viewer.settled();
          if (finalCursor) await viewer.waitForCursor(finalCursor, 15_000);
          await viewer.waitForRunsEnded(15_000);
        } catch (error) {
          report.failures.push(`${viewer.name}: ${error instanceof Error ? error.message : String(error)}`);
        }
        const seen = auditTranscript(viewer.transcript(), history);
        report.viewerMissing += seen.missing;
        report.viewerDoubled += seen.doubled;
        report.reordered += seen.reordered;
        report.resumes += viewer.segments.length - 1;
      }
      let runs;
      try {
        runs = runsSeen(list);
      } catch (error) {
        report.failures.push(error instanceof Error ? error.message : String(error));
        continue;
      }
      report.runs += runs.size;
      const posted = answers.get(threadId) ?? [];
      const audit = auditPosts(posted, history, runs);
      report.lost += audit.lost.length;
      report.duplicated += audit.duplicated.length;
      report.unanswered += audit.unanswered.length;
      report.doublyAnswered += audit.doublyAnswered.length;
      // Posted one after the other: stored in that order.
      const storedOrder = history.filter((entry) => entry.role === 'user').map((entry) => entry.id);
      const answeredOrder = posted
        .map((answer) => answer.posted.messageId)
        .filter((id) => storedOrder.includes(id));
      report.reordered += answeredOrder.filter((id, index) => storedOrder[index] !== id).length;
      for (const [kind, ids] of Object.entries(audit)) {
        if (ids.length > 0) report.failures.push(`thread ${threadId}: ${kind}: ${ids.join(', ')}`);
      }
      if (audit.unanswered.length + audit.doublyAnswered.length > 0) {
        report.failures.push(explainRuns(cluster, threadId, history, list));
      }
    }
    report.failovers = cluster.instances
      .flatMap((instance) => instance.server.logs)
      .filter((line) => line.msg === 'recovering a run whose instance stopped').length;
  } catch (error) {
    report.failures.push(
      `round failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    if (chorus) report.failures.push(`instance problems:\n${chorus.problems()}`);
  } finally {
    await chorus?.stop().catch((error: unknown) => report.failures.push(`stopping Chorus: ${String(error)}`));
    await redis?.stop().catch((error: unknown) => report.failures.push(`stopping Redis: ${String(error)}`));
  }
  report.durationMs = Date.now() - started;
  return report;
}

/**
 * What a failure of the post audit needs to be understood afterwards (CI keeps only this output):
 * the stored history, what each viewer saw of runs on each connection, and the instances' log
 * lines of the thread's runs (each names the posts it took).
 */
function explainRuns(
  cluster: ChorusCluster,
  threadId: string,
  history: readonly { id: string; cursor: string; role: string; author: string; status: string }[],
  viewers: readonly Viewer[],
): string {
  const lines = ['the runs of this thread, as seen:', '  history:'];
  for (const entry of history) {
    lines.push(`    ${entry.cursor} ${entry.role} ${entry.author} ${entry.id} ${entry.status}`);
  }
  for (const viewer of viewers) {
    lines.push(`  ${viewer.name} (closes ${viewer.closes.join(',') || 'none'}):`);
    viewer.segmentEvents().forEach((events, index) => {
      const segment = viewer.segments[index]!;
      const runs = events.flatMap((event) =>
        event.type === 'run-start'
          ? [`start ${event.runId} [${(event.posts ?? []).join(',')}]`]
          : event.type === 'run-end'
            ? [`end ${event.runId} ${event.reason}`]
            : [],
      );
      const { runEnd, lastRunEnd } = segment.subscribed;
      if (lastRunEnd) runs.unshift(`told last end ${lastRunEnd.runId} ${lastRunEnd.reason}`);
      if (runEnd) runs.unshift(`asked ${segment.runId}: told end ${runEnd.runId} ${runEnd.reason}`);
      lines.push(
        `    on ${segment.instance.name} from ${segment.cursor ?? 'the start'}: ${runs.join('; ') || 'no run event'}`,
      );
    });
  }
  lines.push('  instance logs:');
  for (const instance of cluster.instances) {
    for (const line of instance.server.logs) {
      if (line.threadId !== threadId) continue;
      const { msg, runId, posts, reason, time } = line;
      lines.push(
        `    ${instance.name} ${String(time)} ${String(msg)} ${JSON.stringify({ runId, posts, reason })}`,
      );
    }
  }
  return lines.join('\n');
}

function violations(report: RoundReport): number {
  return (
    report.lost +
    report.duplicated +
    report.reordered +
    report.unanswered +
    report.doublyAnswered +
    report.viewerMissing +
    report.viewerDoubled +
    report.failures.length
  );
}

function withBound<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  const seeds = seedsFromArguments();
  console.log(`chaos: seeds ${seeds.join(', ')} (replay one with: npm run chaos -- --seed N)`);
  const reports: RoundReport[] = [];
  for (const seed of seeds) {
    const report = await withBound(round(seed), ROUND_BOUND_MS, `seed ${seed}`);
    reports.push(report);
    const { failures, ...counts } = report;
    console.log(`chaos seed ${seed}: ${JSON.stringify(counts)}`);
    for (const failure of failures) console.log(`  VIOLATION (seed ${seed}): ${failure}`);
  }
  const total = (key: keyof Omit<RoundReport, 'failures' | 'seed'>) =>
    reports.reduce((sum, report) => sum + report[key], 0);
  console.log('\nchaos summary');
  console.log(
    `  lost ${total('lost')}, duplicated ${total('duplicated')}, reordered ${total('reordered')}, ` +
      `unanswered ${total('unanswered')}, doubly answered ${total('doublyAnswered')}`,
  );
  console.log(`  viewers: missed ${total('viewerMissing')}, saw twice ${total('viewerDoubled')}`);
  console.log(
    `  went through: ${total('posts')} posts (${total('postRetries')} retries), ${total('runs')} runs, ` +
      `${total('resumes')} resumes (${total('drops')} deliberate drops), ${total('failovers')} failovers, ` +
      `${total('redisRestarts')} Redis outages, ${total('kills')} instance kills, ${total('stalls')} stalls`,
  );
  const failed = reports.filter((report) => violations(report) > 0);
  console.log(
    failed.length === 0 ? '  result: OK' : `  result: FAILED (seeds ${failed.map((r) => r.seed).join(', ')})`,
  );
  return failed.length === 0 ? 0 : 1;
}

// Children die with this process (support.ts and redis.ts kill them on 'exit'): make every end an exit.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`chaos: ${signal}, stopping`);
    process.exit(130);
  });
}
setTimeout(() => {
  console.error(`chaos: not finished within ${BOUND_MS} ms: failing`);
  process.exit(2);
}, BOUND_MS).unref();

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error('chaos failed:', error);
    process.exit(1);
  },
);
