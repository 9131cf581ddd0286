// The results: one JSON document and a Markdown rendering of it (summary against the targets,
// then the ladders step by step and the detail of each scenario).
import { THREAD_RATE, VIEWERS_PER_THREAD } from '../scenarios/fanout.ts';
import type { FanoutResult, LadderKind, LadderResult, StepResult } from '../scenarios/fanout.ts';
import type { MemoryResult } from '../scenarios/memory.ts';
import type { ResumeResult } from '../scenarios/resume.ts';
import type { TtftResult } from '../scenarios/ttft.ts';
import type { SystemName } from '../load/viewers.ts';
import { P99_LIMIT_MS } from '../scenarios/fanout.ts';
import { SYSTEM_LABELS } from '../scenarios/systems.ts';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGB: number;
  os: string;
  node: string;
  redis: string;
  redisMode: string;
  /** 1-minute load average when the run started and when it ended (other work on the machine). */
  loadAverage: { start: number; end: number };
}

export interface BenchResults {
  date: string;
  mode: 'full' | 'quick';
  seconds: number;
  machine: Machine;
  settings: Record<string, number | string>;
  /** CHORUS_* settings the Chorus instances ran with beyond their defaults. */
  chorusSettings: Record<string, string>;
  /** By system. */
  fanout: Record<string, FanoutResult>;
  memory: Partial<Record<SystemName, MemoryResult>>;
  resume: ResumeResult | null;
  ttft: { redis: TtftResult | null; memoryStore: TtftResult | null };
  /** Scenarios that could not run or failed, and other remarks. */
  notes: string[];
}

const SYSTEMS: SystemName[] = ['chorus', 'socketio', 'ws-relay'];
const ms = (value: number | undefined) =>
  value === undefined || Number.isNaN(value) ? '—' : value < 10 ? value.toFixed(2) : value.toFixed(1);
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const check = (ok: boolean) => (ok ? '✅' : '❌');
const LADDER_KINDS: LadderKind[] = ['rate', 'viewers', 'threads'];
const LADDER_TITLES: Record<LadderKind, (ladder: LadderResult) => string> = {
  rate: (ladder) => `Rate ladder (${ladder.fixed} viewers, ${ladder.stepSeconds} s steps)`,
  viewers: (ladder) => `Viewer ladder (${ladder.fixed} tokens/s, ${ladder.stepSeconds} s steps)`,
  threads: (ladder) =>
    `Many-threads ladder (threads × ${ladder.fixed} viewers, ${THREAD_RATE} tokens/s per thread, ${ladder.stepSeconds} s steps)`,
};
const STEP_HEADER =
  '| step | load tok/s | rate × viewers | p50 ms | p99 ms | max ms | tokens/frame | CPU % A / B / Redis / gen / other | loop A / B | B µs/frame | result |';
const STEP_RULE = '|---|---|---|---|---|---|---|---|---|---|---|';

function sustainedText(ladder: LadderResult | undefined): string {
  if (!ladder) return 'not run';
  const bound = ladder.firstFailure === null && ladder.sustained !== null ? '≥ ' : '';
  if (ladder.sustained === null)
    return ladder.firstFailure === null ? 'no step ran' : `< ${int(ladder.firstFailure)}`;
  return `${bound}${int(ladder.sustained)}`;
}

function fanoutVerdict(results: BenchResults['fanout'], kind: LadderKind): string {
  const chorus = results.chorus?.ladders[kind]?.sustained;
  const socketio = results.socketio?.ladders[kind];
  const relay = results['ws-relay']?.ladders[kind];
  if (chorus === undefined || chorus === null)
    return results.chorus?.ladders[kind] ? '❌ sustained no step' : '—';
  const parts: string[] = [];
  if (socketio?.sustained) {
    const ratio = chorus / socketio.sustained;
    parts.push(`${ratio.toFixed(2)}× Socket.IO ${check(ratio >= 3)}`);
  } else if (socketio) parts.push('Socket.IO sustained no step');
  if (relay?.sustained) {
    const ratio = chorus / relay.sustained;
    parts.push(`${ratio.toFixed(2)}× relay ${check(ratio >= 2 / 3)}`);
  } else if (relay) parts.push('relay sustained no step');
  return parts.join(', ');
}

function stepRow(step: StepResult): string {
  return [
    step.label,
    int(step.load),
    `${step.rate.toLocaleString('en-US', { maximumFractionDigits: 1 })} × ${step.viewers}`,
    ms(step.latency.p50),
    ms(step.latency.p99),
    ms(step.latency.max),
    Number.isNaN(step.tokensPerFrame) ? '—' : step.tokensPerFrame.toFixed(2),
    `${step.cpu.a.toFixed(0)} / ${step.cpu.b.toFixed(0)} / ${step.cpu.redis.toFixed(0)} / ${step.cpu.loadGenerators.toFixed(0)} / ${Number.isNaN(step.cpu.other) ? '?' : step.cpu.other.toFixed(0)}`,
    `${step.loop.a.toFixed(2)} / ${step.loop.b.toFixed(2)}`,
    Number.isNaN(step.bMicrosPerFrame) ? '—' : step.bMicrosPerFrame.toFixed(1),
    step.passed ? 'pass' : `fail: ${step.reason}`,
  ].join(' | ');
}

/** A warning when other work on the machine took much CPU during the fan-out steps. */
function busyMachineWarning(results: BenchResults): string[] {
  const others = Object.values(results.fanout)
    .flatMap((result) => [
      ...(result.moderate ? [result.moderate] : []),
      ...Object.values(result.ladders).flatMap((ladder) => ladder.steps),
    ])
    .map((step) => step.cpu.other)
    .filter((value) => !Number.isNaN(value))
    .sort((a, b) => a - b);
  const median = others[Math.floor(others.length / 2)];
  if (median === undefined || median < 25) return [];
  return [
    `> **Busy machine:** other work used a median ${median.toFixed(0)}% of a core during the fan-out steps ` +
      `(of ${results.machine.cores} cores). Latencies are inflated and the fan-out figures are noisy and pessimistic ` +
      'for every system; compare systems within this run only, and rerun on a quiet machine for absolute figures.',
    '',
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, fanout, memory, resume, ttft } = results;
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more);
  const settings = results.settings;
  push(
    `# Chorus benchmark — ${results.date}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGB} GB RAM, ${machine.os}; Node ${machine.node}; ` +
      `Redis ${machine.redis} (${machine.redisMode}). Everything on loopback, on this one machine: Redis, both instances ` +
      `of each system and the load generators share the ${machine.cores} cores (1-minute load average ${machine.loadAverage.start.toFixed(2)} at the start, ${machine.loadAverage.end.toFixed(2)} at the end). Mode: ${results.mode} (\`npm run bench${results.mode === 'quick' ? ' -- --quick' : ''}\`), ${results.seconds.toFixed(0)} s.`,
    '',
    ...busyMachineWarning(results),
    `Chorus instances: their defaults plus ${Object.entries(results.chorusSettings)
      .map(([name, value]) => `\`${name}=${value}\``)
      .join(', ')}.`,
    '',
    '## Summary',
    '',
    `| figure | target | ${SYSTEMS.map((system) => SYSTEM_LABELS[system]).join(' | ')} | verdict |`,
    `|---|---|---|---|---|---|`,
  );
  const moderate = (system: SystemName) => {
    const step = fanout[system]?.moderate;
    return step ? `${ms(step.latency.p50)} / ${ms(step.latency.p99)}` : 'not run';
  };
  const chorusModerate = fanout.chorus?.moderate;
  const fanoutRow = (kind: LadderKind, title: string) => {
    if (!SYSTEMS.some((system) => fanout[system]?.ladders[kind])) return;
    push(
      `| ${title} | ≥ 3× Socket.IO, ≥ 2/3 of relay | ${SYSTEMS.map((system) => sustainedText(fanout[system]?.ladders[kind])).join(' | ')} | ${fanoutVerdict(fanout, kind)} |`,
    );
  };
  fanoutRow(
    'rate',
    `1a. fan-out, highest load with p99 < ${P99_LIMIT_MS} ms in tokens delivered/s — rate ladder: ${settings.viewers} viewers on B, the producer on A speeds up (merging tokens into frames pays)`,
  );
  fanoutRow(
    'viewers',
    `1b. fan-out, the same — viewer ladder: the producer at ${settings.viewerLadderRate} tokens/s (a fast model), viewers double (about one frame per token per viewer)`,
  );
  fanoutRow(
    'threads',
    `1c. many threads: T threads × ${VIEWERS_PER_THREAD} viewers over two instances, each thread's model at ${THREAD_RATE} tokens/s, T doubles — highest load with p99 < ${P99_LIMIT_MS} ms and ≥ 99% delivered, tokens delivered/s (T = load / ${THREAD_RATE * VIEWERS_PER_THREAD})`,
  );
  push(
    `| 2. token → viewer latency on another instance at moderate load (${settings.moderateRate} tok/s × ${settings.viewers} viewers), p50 / p99 ms | p99 < 10 ms | ${SYSTEMS.map(moderate).join(' | ')} | ${chorusModerate ? check(chorusModerate.latency.p99 < 10 && chorusModerate.passed) : '—'} |`,
  );
  const memoryCell = (system: SystemName) => {
    const result = memory[system];
    return result
      ? `${result.rssPerConnectionKB.toFixed(1)} KB RSS (${result.heapPerConnectionKB.toFixed(1)} KB heap)`
      : 'not run';
  };
  push(
    `| 3. memory per idle subscribed connection (${int(Number(settings.memoryConnections))} connections over ${settings.memoryThreads} threads) | < 10 KB | ${SYSTEMS.map(memoryCell).join(' | ')} | ${memory.chorus ? check(memory.chorus.rssPerConnectionKB < 10) : '—'} |`,
  );
  push(
    `| 4. resume: replay ${resume ? int(resume.replayed) : '999'} missed messages, server time p50 / p90 ms (verdict on p50) | < 50 ms | ${resume ? `${ms(resume.serverMs.p50)} / ${ms(resume.serverMs.p90)}` : 'not run'} | n/a (no exact resume) | n/a (no history) | ${resume ? check(resume.serverMs.p50 < 50) : '—'} |`,
  );
  const overhead = ttft.redis?.viewers;
  const ttftCell = overhead
    ? Object.entries(overhead)
        .map(([label, figures]) => `${label}: ${ms(figures.overheadMs.p50)} / ${ms(figures.overheadMs.p90)}`)
        .join('; ')
    : 'not run';
  const ttftOk = overhead ? Object.values(overhead).every((figures) => figures.overheadMs.p50 < 2) : false;
  push(
    `| 5. gateway overhead on time to first token, p50 / p90 ms (viewer on A = the agent's instance, on B = another; verdict on p50) | < 2 ms | ${ttftCell} | n/a (no agents) | n/a (no agents) | ${overhead ? check(ttftOk) : '—'} |`,
    '',
    'Peers: Socket.IO 4 with `@socket.io/redis-streams-adapter` (ioredis client; the producer emits one event per token to a room) and a bare `ws` + Redis pub/sub relay (PUBLISH per token, SUBSCRIBE and forward; no history, no resume) — the floor. ' +
      'Each runs as two server processes sharing the bench Redis, like Chorus. Load = model tokens delivered to viewers per second; a frame may carry several tokens if a system coalesces.',
    '',
  );

  push('## 1–2. Fan-out', '');
  push(
    "Each step: the producer on instance A makes tokens at `rate` for the step's duration, every viewer on B must receive every one. " +
      `A step passes when all tokens arrive, no viewer is cut off and p99 < ${P99_LIMIT_MS} ms. CPU is % of one core during the step ` +
      '(A / B / Redis / load generators / other work on the machine — a step with much "other" ran on a busy machine); loop is event-loop utilization of A / B; B µs/frame is instance B\'s CPU time per frame it delivered (the fan-out cost).',
    '',
    '### Moderate load',
    '',
    STEP_HEADER,
    STEP_RULE,
  );
  for (const id of SYSTEMS) {
    const moderate = fanout[id]?.moderate;
    if (moderate) push(`| ${fanout[id]?.label ?? id}: ${stepRow(moderate)} |`);
  }
  push('');
  for (const kind of LADDER_KINDS) {
    for (const id of SYSTEMS) {
      const ladder = fanout[id]?.ladders[kind];
      if (!ladder) continue;
      push(
        `### ${LADDER_TITLES[kind](ladder)}: ${fanout[id]?.label ?? id} — sustained ${sustainedText(ladder)} tokens/s`,
        '',
      );
      push(STEP_HEADER, STEP_RULE);
      for (const step of ladder.steps) push(`| ${stepRow(step)} |`);
      for (const note of ladder.notes) push('', `Note: ${note}`);
      push('');
    }
  }

  push('## 3. Memory per idle subscribed connection', '');
  push(
    'One server process started with `--expose-gc`; a warm-up batch of connections first (one-time costs go to the baseline), then N more idle connections, each subscribed to one thread / room (round-robin); growth after a memory-reducing full GC (V8 `last-resort`, which returns the heap headroom the burst of connects grew, as V8 does by itself once the process idles), divided by N. The RSS after an ordinary full GC, headroom included, is in the second-to-last column.',
    '',
    '| system | connections | threads | RSS per connection | heap used + external per connection | V8 heap reserved (heapTotal) per connection | RSS per connection after an ordinary GC | server RSS | connect time |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const system of SYSTEMS) {
    const result = memory[system];
    if (!result) continue;
    push(
      `| ${SYSTEM_LABELS[system]} | ${int(result.connections)} (+${result.warmupConnections} warm-up) | ${result.threads} | ${result.rssPerConnectionKB.toFixed(1)} KB | ${result.heapPerConnectionKB.toFixed(1)} KB | ${result.heapTotalPerConnectionKB.toFixed(1)} KB | ${result.rssRegularGcPerConnectionKB.toFixed(1)} KB | ${result.rssMB.toFixed(0)} MB | ${result.connectSeconds.toFixed(1)} s |`,
    );
  }
  push('');

  push('## 4. Resume', '');
  if (resume) {
    push(
      `A thread with ${int(resume.messages)} stored messages; a client on instance B resumes from the first cursor and gets ${int(resume.replayed)} messages (${(resume.backlogBytes / 1024).toFixed(0)} KB of frames), ${resume.rounds} times.`,
      '',
      '| measure | p50 ms | p90 ms | max ms |',
      '|---|---|---|---|',
      `| server time (\`chorus_subscribe_seconds\`) | ${ms(resume.serverMs.p50)} | ${ms(resume.serverMs.p90)} | ${ms(resume.serverMs.max)} |`,
      `| client: subscribe sent → last backlog frame, minus ping RTT (${ms(resume.pingRttMs)} ms) | ${ms(resume.clientMs.p50)} | ${ms(resume.clientMs.p90)} | ${ms(resume.clientMs.max)} |`,
      '',
    );
  } else push('Not run.', '');

  push('## 5. Gateway overhead on time to first token', '');
  for (const [label, result] of [
    ['Two instances on Redis', ttft.redis],
    ['One instance, in-memory store', ttft.memoryStore],
  ] as const) {
    if (!result) continue;
    push(
      `${label}: ${result.runs} posts, the bench model's own time to first token ${result.modelTtftMs} ms (subtracted). Post sent → model called: p50 ${ms(result.beforeModelMs.p50)} ms, p90 ${ms(result.beforeModelMs.p90)} ms.`,
      '',
      '| viewer | overhead p50 | p90 | max | model token → viewer p50 | p90 |',
      '|---|---|---|---|---|---|',
    );
    for (const [viewer, figures] of Object.entries(result.viewers)) {
      push(
        `| ${viewer} | ${ms(figures.overheadMs.p50)} | ${ms(figures.overheadMs.p90)} | ${ms(figures.overheadMs.max)} | ${ms(figures.afterModelMs.p50)} | ${ms(figures.afterModelMs.p90)} |`,
      );
    }
    push(
      '',
      `Timeline of a post (ms after it was sent, seen by the first viewer; model times from the bench model, same clock):`,
      '',
      '| milestone | p50 | p90 |',
      '|---|---|---|',
      ...result.timeline.map((entry) => `| ${entry.milestone} | ${ms(entry.p50)} | ${ms(entry.p90)} |`),
      '',
    );
  }
  if (!ttft.redis && !ttft.memoryStore) push('Not run.', '');

  if (results.notes.length > 0) {
    push('## Notes', '');
    for (const note of results.notes) push(`- ${note}`);
    push('');
  }
  push(`Settings: \`${JSON.stringify(settings)}\``, '');
  return lines.join('\n');
}
