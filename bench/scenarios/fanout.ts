// Scenarios 1 and 2: fan-out capacity and latency at moderate load, across instances.
//
// A step: the producer on instance A makes `count` tokens at `rate` per second; every viewer (on
// instance B, in the load generators) must receive every token. Latency is per token: the time a
// viewer received it minus the time the producer made it. A step passes when every token reached
// every viewer, no viewer was cut off, and p99 < 50 ms. The machine may be shared: a failed step
// is tried again (`attempts`), and a failure while other work used more than half a core is only
// inconclusive — it is repeated (a bounded number of times) rather than counted.
//
// Load = tokens delivered per second = rate × viewers, stepped up by three ladders:
// - the rate ladder: a fixed number of viewers, the producer's rate doubles (a system that merges
//   tokens into fewer frames gains here, which the targets count as fair);
// - the viewer ladder: a fixed, model-like rate, the number of viewers doubles (every system sends
//   about one frame per token per viewer: raw fan-out efficiency);
// - the many-threads ladder: T threads × 20 viewers, each thread's model at 50 tokens/s (an LLM's
//   pace), all at once; T doubles. What a service with many conversations does all day: many
//   concurrent runs, every token a publish of its own. A step passes with ≥ 99% of the tokens
//   delivered and p99 < 50 ms.
// Each ladder doubles the load until a system fails, then bisects (in log space) between its last
// pass and its first failure. The systems are measured interleaved: every system still in the race
// runs a load level before any system runs the next one, so that whatever else the machine does
// affects all of them alike. The moderate-load measurement is one step at a fixed, modest rate.
import { now } from '../lib/clock.ts';
import type { ManagedChild } from '../lib/children.ts';
import { Histogram, type LatencySummary } from '../lib/histogram.ts';
import type { ProcessStats } from '../lib/ipc.ts';
import { machineCpu } from '../lib/machine-cpu.ts';
import type { BenchRedis } from '../lib/redis.ts';
import type { ConnectResult, MeasureResult } from '../load/viewers.ts';
import { FANOUT_TARGETS, type SystemUnderTest } from './systems.ts';

export const P99_LIMIT_MS = 50;

export interface StepResult {
  label: string;
  /** Tokens per second the producer makes. */
  rate: number;
  viewers: number;
  tokensPerViewer: number;
  /** rate × viewers: tokens per second to deliver. */
  load: number;
  delivered: number;
  expected: number;
  latency: LatencySummary;
  /** Tokens per token-carrying frame (1 without coalescing). */
  tokensPerFrame: number;
  closed: number;
  closeCodes: Record<string, number>;
  /**
   * CPU use during the step, in % of one core. `other`: the machine's busy time that none of the
   * bench's processes account for (other work on a shared machine); NaN when unknown.
   */
  cpu: { a: number; b: number; redis: number; loadGenerators: number; other: number };
  /** Event-loop utilization of A and B during the step (0..1). */
  loop: { a: number; b: number };
  /** Instance B's CPU time per frame it delivered (µs): the cost of fan-out, what the ladders stress. */
  bMicrosPerFrame: number;
  wallMs: number;
  passed: boolean;
  reason: string;
}

export type LadderKind = 'rate' | 'viewers' | 'threads';

/** The many-threads ladder: tokens per second of each thread's model, and viewers per thread. */
export const THREAD_RATE = 50;
export const VIEWERS_PER_THREAD = 20;

export interface LadderOptions {
  stepSeconds: number;
  refineSteps: number;
  /** Rate ladder: the viewers. Viewer ladder: the producer's rate (tokens/s). Threads: viewers per thread. */
  fixed: number;
  /** Viewer ladder: the most viewers a step may have. */
  maxViewers?: number;
  /** The lowest load tried (a level of LADDER). */
  startLoad: number;
  /** performance.now() after which no new step of this ladder starts. */
  deadline: number;
}

export interface LadderResult {
  kind: LadderKind;
  /** Rate ladder: viewers; viewer ladder: tokens/s. */
  fixed: number;
  stepSeconds: number;
  steps: StepResult[];
  /** Highest load (tokens delivered/s) that passed; null when none did. */
  sustained: number | null;
  /** Lowest load that failed; null when none did. */
  firstFailure: number | null;
  notes: string[];
}

export interface FanoutResult {
  label: string;
  moderate: StepResult | null;
  ladders: Partial<Record<LadderKind, LadderResult>>;
}

export interface FanoutOptions {
  /** Viewers of the warm-up and moderate steps. */
  viewers: number;
  warmUpSeconds: number;
  moderateRate: number;
  moderateSeconds: number;
  ladders: Partial<Record<LadderKind, LadderOptions>>;
  /** Attempts of a failing step before it counts as failed. */
  attempts: number;
  /** Extra attempts allowed for failures measured while the machine was busy with other work. */
  inconclusiveAttempts: number;
  log: (line: string) => void;
}

export const LADDER = [
  5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000, 2_560_000,
];
/** How long after the last token was due a step still waits for stragglers. */
const GRACE_MS = 1500;
/** A failed step during which other work used more than this (% of one core) is inconclusive. */
export const BUSY_MACHINE_PERCENT = 50;

function cpuPercent(before: ProcessStats, after: ProcessStats, wallMs: number): number {
  const micros = after.cpuUser + after.cpuSystem - before.cpuUser - before.cpuSystem;
  return wallMs > 0 ? (micros / 1000 / wallMs) * 100 : 0;
}

function loopUtilization(before: ProcessStats, after: ProcessStats): number {
  const active = after.loopActive - before.loopActive;
  const idle = after.loopIdle - before.loopIdle;
  return active + idle > 0 ? active / (active + idle) : 0;
}

/** Splits `total` viewers over the load generators. */
function shares(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0),
  );
}

/** The threads / rooms of each kind of step (each watched by an even share of the viewers). */
function targetsOf(kind: LadderKind, viewers: number): string[] {
  if (kind === 'rate') return [FANOUT_TARGETS[0]];
  if (kind === 'viewers') return [FANOUT_TARGETS[1]];
  const threads = Math.max(1, Math.round(viewers / VIEWERS_PER_THREAD));
  return Array.from({ length: threads }, (_, index) => `many-${index + 1}`);
}

/** The step a ladder takes for a load: its rate (per target) and viewers. */
function stepShape(kind: LadderKind, fixed: number, load: number): { rate: number; viewers: number } {
  if (kind === 'rate') return { rate: load / fixed, viewers: fixed };
  if (kind === 'viewers') return { rate: fixed, viewers: Math.round(load / fixed) };
  return { rate: THREAD_RATE, viewers: Math.round(load / THREAD_RATE) };
}

/** The share of the tokens a step must deliver to pass. */
const MIN_DELIVERED: Record<LadderKind, number> = { rate: 1, viewers: 1, threads: 0.99 };

/** One contender: a system under test and its viewers. */
export class FanoutRunner {
  readonly id: string;
  readonly label: string;
  readonly sut: SystemUnderTest;
  readonly result: FanoutResult;
  private readonly loadGenerators: readonly ManagedChild[];
  private readonly redis: BenchRedis;
  private readonly options: FanoutOptions;

  constructor(
    contender: { id: string; label: string; sut: SystemUnderTest },
    loadGenerators: readonly ManagedChild[],
    redis: BenchRedis,
    options: FanoutOptions,
  ) {
    this.id = contender.id;
    this.label = contender.label;
    this.sut = contender.sut;
    this.loadGenerators = loadGenerators;
    this.redis = redis;
    this.options = options;
    this.result = { label: contender.label, moderate: null, ladders: {} };
  }

  ladder(kind: LadderKind, options: LadderOptions): LadderResult {
    let ladder = this.result.ladders[kind];
    if (!ladder) {
      ladder = {
        kind,
        fixed: options.fixed,
        stepSeconds: options.stepSeconds,
        steps: [],
        sustained: null,
        firstFailure: null,
        notes: [],
      };
      this.result.ladders[kind] = ladder;
    }
    return ladder;
  }

  /** Whether the ladder should try `load` (nothing failed at or below it yet). */
  inRace(ladder: LadderResult, load: number): boolean {
    return ladder.firstFailure === null || load < ladder.firstFailure;
  }

  /** Brings this system's open viewers of `kind`'s thread to exactly `viewers` (opening or closing some). */
  async connectViewers(kind: LadderKind, viewers: number, targets: string[]): Promise<number[]> {
    const perGenerator = shares(viewers, this.loadGenerators.length);
    const results = await Promise.all(
      this.loadGenerators.map((generator, index) =>
        generator.request<ConnectResult>(
          'connect',
          {
            pool: `${this.sut.name}:${kind}`,
            system: this.sut.name,
            url: this.sut.viewerUrl,
            targets,
            count: perGenerator[index],
            concurrency: 50,
            timeoutMs: 60_000,
          },
          90_000,
        ),
      ),
    );
    const open = results.reduce((sum, result) => sum + result.open, 0);
    const errors = results.flatMap((result) => result.errors);
    if (open < viewers) {
      throw new Error(
        `only ${open} of ${viewers} ${this.label} viewers could subscribe: ${errors.join('; ')}`,
      );
    }
    return perGenerator;
  }

  async closeViewers(kind: LadderKind): Promise<void> {
    await Promise.all(
      this.loadGenerators.map((generator) =>
        generator.request('close-all', { pool: `${this.sut.name}:${kind}` }),
      ),
    );
  }

  async warmUp(): Promise<void> {
    // Not recorded: JIT, buffers, Redis scripts.
    await this.step('rate', 'warm-up', 100, this.options.warmUpSeconds, this.options.viewers);
  }

  async moderate(): Promise<void> {
    this.result.moderate = await this.step(
      'rate',
      'moderate',
      this.options.moderateRate,
      this.options.moderateSeconds,
      this.options.viewers,
    );
  }

  /** Runs one ladder level (with retries); records pass or failure. */
  async climb(ladder: LadderResult, load: number, label = 'ladder'): Promise<boolean> {
    const { rate, viewers } = stepShape(ladder.kind, ladder.fixed, load);
    let failures = 0;
    let inconclusive = 0;
    let attempt = 0;
    while (failures < this.options.attempts) {
      attempt += 1;
      const step = await this.step(
        ladder.kind,
        attempt === 1 ? label : 'retry',
        rate,
        ladder.stepSeconds,
        viewers,
      );
      ladder.steps.push(step);
      if (step.passed) {
        ladder.sustained = Math.max(ladder.sustained ?? 0, load);
        return true;
      }
      if (step.cpu.other > BUSY_MACHINE_PERCENT && inconclusive < this.options.inconclusiveAttempts) {
        inconclusive += 1;
        step.reason += ` (inconclusive: other work used ${step.cpu.other.toFixed(0)}% of a core)`;
      } else {
        failures += 1;
      }
    }
    ladder.firstFailure = Math.min(ladder.firstFailure ?? Number.POSITIVE_INFINITY, load);
    return false;
  }

  /** The next load to try between the last pass and the first failure, or null. */
  nextRefinement(ladder: LadderResult): number | null {
    const { sustained, firstFailure } = ladder;
    if (sustained === null || firstFailure === null) return null;
    const middle = roundLoad(Math.sqrt(sustained * firstFailure));
    return middle > sustained && middle < firstFailure ? middle : null;
  }

  async step(
    kind: LadderKind,
    label: string,
    rate: number,
    seconds: number,
    viewers: number,
  ): Promise<StepResult> {
    const { sut, loadGenerators, redis } = this;
    const targets = targetsOf(kind, viewers);
    await sut.prepare(targets);
    // Every load generator's viewers cover the targets alike (viewer i of a generator watches
    // targets[i % length]), so each target has about viewers / targets.length.
    const perGenerator = await this.connectViewers(kind, viewers, targets);
    const count = Math.max(1, Math.round(rate * seconds));
    const durationMs = (count / rate) * 1000;
    await Promise.all(
      loadGenerators.map((generator) => generator.request('measure-start', { notBefore: now() })),
    );
    const [aBefore, bBefore, redisBefore, generatorsBefore, machineBefore] = await Promise.all([
      sut.a.request<ProcessStats>('stats'),
      sut.b.request<ProcessStats>('stats'),
      redis.cpuSeconds(),
      Promise.all(loadGenerators.map((generator) => generator.request<ProcessStats>('stats'))),
      machineCpu(),
    ]);
    const selfBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(targets.map((target) => sut.produce(target, rate, count)));
    const measured = await Promise.all(
      loadGenerators.map((generator, index) =>
        generator.request<MeasureResult>(
          'measure-wait',
          { expectedTokens: count * (perGenerator[index] ?? 0), timeoutMs: durationMs + GRACE_MS },
          durationMs + GRACE_MS + 15_000,
        ),
      ),
    );
    const wallMs = performance.now() - started;
    const self = process.cpuUsage(selfBefore);
    const [aAfter, bAfter, redisAfter, machineAfter] = await Promise.all([
      sut.a.request<ProcessStats>('stats'),
      sut.b.request<ProcessStats>('stats'),
      redis.cpuSeconds(),
      machineCpu(),
    ]);

    const histogram = new Histogram();
    let delivered = 0;
    let frames = 0;
    let closed = 0;
    let generatorCpu = 0;
    const closeCodes: Record<string, number> = {};
    measured.forEach((result, index) => {
      histogram.merge(result.histogram);
      delivered += result.tokens;
      frames += result.tokenFrames;
      closed += result.closed;
      for (const [code, times] of Object.entries(result.closeCodes))
        closeCodes[code] = (closeCodes[code] ?? 0) + times;
      const before = generatorsBefore[index];
      if (before) generatorCpu += cpuPercent(before, result.stats, wallMs);
    });
    const expected = count * viewers;
    const latency = histogram.summary();
    const reasons: string[] = [];
    if (delivered < expected * MIN_DELIVERED[kind])
      reasons.push(
        `${expected - delivered} of ${expected} tokens not delivered within ${Math.round(durationMs + GRACE_MS)} ms`,
      );
    if (closed > 0)
      reasons.push(
        `${closed} viewers cut off (${Object.entries(closeCodes)
          .map(([code, times]) => `${code}×${times}`)
          .join(', ')})`,
      );
    if (!(latency.p99 < P99_LIMIT_MS)) reasons.push(`p99 ${latency.p99.toFixed(1)} ms ≥ ${P99_LIMIT_MS} ms`);
    const passed = reasons.length === 0;
    const result: StepResult = {
      label,
      rate,
      viewers: viewers,
      tokensPerViewer: count,
      load: rate * viewers,
      delivered,
      expected,
      latency,
      tokensPerFrame: frames > 0 ? delivered / frames : Number.NaN,
      closed,
      closeCodes,
      cpu: {
        a: cpuPercent(aBefore, aAfter, wallMs),
        b: cpuPercent(bBefore, bAfter, wallMs),
        redis: ((redisAfter - redisBefore) * 1000 * 100) / wallMs,
        loadGenerators: generatorCpu,
        other: Number.NaN,
      },
      loop: { a: loopUtilization(aBefore, aAfter), b: loopUtilization(bBefore, bAfter) },
      bMicrosPerFrame:
        frames > 0
          ? (bAfter.cpuUser + bAfter.cpuSystem - bBefore.cpuUser - bBefore.cpuSystem) / frames
          : Number.NaN,
      wallMs,
      passed,
      reason: passed ? 'ok' : reasons.join('; '),
    };
    if (machineBefore && machineAfter) {
      const machineMs = machineAfter.busyMs - machineBefore.busyMs;
      const benchPercent =
        result.cpu.a +
        result.cpu.b +
        result.cpu.redis +
        result.cpu.loadGenerators +
        ((self.user + self.system) / 1000 / wallMs) * 100;
      result.cpu.other = Math.max(0, (machineMs / wallMs) * 100 - benchPercent);
    }
    this.options.log(
      `    ${this.label.slice(0, 28).padEnd(28)} ${label.padEnd(8)} ${formatRate(result.load).padStart(9)} tok/s  ` +
        `p50 ${latency.p50.toFixed(2)} p99 ${latency.p99.toFixed(2)} ms  tok/frame ${result.tokensPerFrame.toFixed(1)}  ` +
        `cpu A ${result.cpu.a.toFixed(0)}% B ${result.cpu.b.toFixed(0)}% redis ${result.cpu.redis.toFixed(0)}% gen ${result.cpu.loadGenerators.toFixed(0)}% other ${result.cpu.other.toFixed(0)}%  ` +
        `${passed ? 'pass' : `FAIL: ${result.reason}`}`,
    );
    await Promise.all(targets.map((target) => sut.settle(target, !passed)));
    await Promise.all(
      loadGenerators.map((generator) =>
        generator.request('quiet', { quietMs: 250, timeoutMs: 15_000 }, 30_000),
      ),
    );
    return result;
  }
}

/** The interleaved ladders over every runner; fills each runner's `result`. */
export async function runFanout(runners: readonly FanoutRunner[], options: FanoutOptions): Promise<void> {
  for (const runner of runners) await runner.warmUp();
  for (const runner of runners) await runner.moderate();
  for (const kind of ['rate', 'viewers', 'threads'] as const) {
    const ladderOptions = options.ladders[kind];
    if (!ladderOptions) continue;
    options.log(
      kind === 'rate'
        ? `  rate ladder: ${ladderOptions.fixed} viewers, the producer's rate doubles`
        : kind === 'viewers'
          ? `  viewer ladder: ${ladderOptions.fixed} tokens/s, the viewers double`
          : `  many-threads ladder: threads × ${VIEWERS_PER_THREAD} viewers, ${THREAD_RATE} tokens/s each, the threads double`,
    );
    const ladders = runners.map((runner) => runner.ladder(kind, ladderOptions));
    let stoppedAt: { load: number; why: string } | null = null;
    for (const load of LADDER.filter((level) => level >= ladderOptions.startLoad)) {
      const { viewers } = stepShape(kind, ladderOptions.fixed, load);
      if (ladderOptions.maxViewers !== undefined && viewers > ladderOptions.maxViewers) {
        stoppedAt = { load, why: `it would need more than ${ladderOptions.maxViewers} viewers` };
        break;
      }
      const contenders = runners.filter((runner, index) => runner.inRace(ladders[index]!, load));
      if (contenders.length === 0) break;
      if (performance.now() > ladderOptions.deadline) {
        stoppedAt = { load, why: 'the time budget' };
        break;
      }
      for (const runner of contenders) await runner.climb(runner.ladder(kind, ladderOptions), load);
    }
    for (const ladder of ladders) {
      if (ladder.firstFailure !== null) continue;
      ladder.notes.push(
        stoppedAt
          ? `the ladder stopped before ${formatRate(stoppedAt.load)} tokens/s (${stoppedAt.why}): the figure is a lower bound`
          : 'the top of the ladder passed: the figure is a lower bound',
      );
    }
    for (let round = 0; round < ladderOptions.refineSteps; round += 1) {
      for (const runner of runners) {
        const ladder = runner.ladder(kind, ladderOptions);
        const middle = runner.nextRefinement(ladder);
        if (middle === null) continue;
        if (performance.now() > ladderOptions.deadline) {
          ladder.notes.push('the time budget cut the refinement short');
          continue;
        }
        await runner.climb(ladder, middle, 'refine');
      }
    }
  }
  // The viewer and many-threads ladders may have opened many viewers: close them.
  for (const runner of runners) {
    await runner.closeViewers('viewers');
    await runner.closeViewers('threads');
  }
}

/** Two significant digits. */
function roundLoad(value: number): number {
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(value)) - 1);
  return Math.round(value / magnitude) * magnitude;
}

export function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
