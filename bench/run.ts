// `npm run bench` — Chorus side by side with its peers, in one run, on this machine's loopback.
//
//   npm run bench                 full run (about 3–4½ minutes)
//   npm run bench -- --quick      shorter steps, fewer viewers and connections (about 1 minute)
//   npm run bench -- --only=fanout,memory,resume,ttft    a subset of scenarios
//   npm run bench -- --only=fanout --ladders=threads      a subset of the fan-out ladders
//   npm run bench -- --systems=chorus,ws-relay           a subset of systems (fan-out, memory)
//   npm run bench -- --redis-url=redis://127.0.0.1:6379  use an existing Redis (a unique prefix,
//                                                        cleaned up) instead of an own redis-server
//   npm run bench -- --profile    CPU profiles (--cpu-prof) of the fan-out servers, written to
//                                 bench/results/profiles/ (summarize: node bench/tools/profile-top.ts)
//   CHORUS_DELTA_WINDOW_MS=0 npm run bench   CHORUS_* variables are passed on to the Chorus instances
//
// Every server and load generator is a child process of this one (see lib/children.ts); all of
// them are ended when this process exits, fails or is interrupted. Results: a table on stdout,
// bench/results/latest.md and bench/results/latest.json. What each scenario measures:
// docs/benchmark.md.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { killAllNow, liveChildren, ManagedChild } from './lib/children.ts';
import { benchEpoch } from './lib/clock.ts';
import { describe } from './lib/ipc.ts';
import { startBenchRedis, type BenchRedis } from './lib/redis.ts';
import { renderMarkdown, type BenchResults } from './lib/report.ts';
import type { SystemName } from './load/viewers.ts';
import {
  FanoutRunner,
  runFanout,
  VIEWERS_PER_THREAD,
  type FanoutOptions,
  type LadderKind,
} from './scenarios/fanout.ts';

const LADDER_KINDS: readonly LadderKind[] = ['rate', 'viewers', 'threads'];
import { measureMemory } from './scenarios/memory.ts';
import { measureResume } from './scenarios/resume.ts';
import {
  CHORUS_BENCH_SETTINGS,
  chorusEnvironment,
  chorusOverrides,
  startChorus,
  startChorusServer,
  startSystem,
  SYSTEM_LABELS,
  type SystemUnderTest,
} from './scenarios/systems.ts';
import { measureTtft } from './scenarios/ttft.ts';

const SCENARIOS = ['fanout', 'memory', 'resume', 'ttft'] as const;
type Scenario = (typeof SCENARIOS)[number];
const ALL_SYSTEMS: SystemName[] = ['chorus', 'socketio', 'ws-relay'];
type ChorusPair = Awaited<ReturnType<typeof startChorus>>;

const PROFILES = {
  full: {
    viewers: 200,
    warmUpSeconds: 1,
    startLoad: 5000,
    moderateRate: 50,
    moderateSeconds: 4,
    rateLadderSeconds: 2,
    viewerLadderRate: 100,
    viewerLadderSeconds: 2,
    threadsLadderSeconds: 4,
    maxViewers: 6400,
    refineSteps: 1,
    attempts: 2,
    inconclusiveAttempts: 1,
    fanoutSeconds: 280,
    memoryConnections: 5000,
    memoryThreads: 100,
    memoryWarmup: 200,
    resumeMessages: 1000,
    resumeRounds: 20,
    ttftRuns: 30,
    modelTtftMs: 5,
    budgetSeconds: 400,
  },
  quick: {
    viewers: 100,
    warmUpSeconds: 0.5,
    startLoad: 10_000,
    moderateRate: 50,
    moderateSeconds: 2,
    rateLadderSeconds: 1,
    viewerLadderRate: 100,
    viewerLadderSeconds: 1,
    threadsLadderSeconds: 2,
    maxViewers: 1600,
    refineSteps: 0,
    attempts: 1,
    inconclusiveAttempts: 0,
    fanoutSeconds: 75,
    memoryConnections: 1000,
    memoryThreads: 50,
    memoryWarmup: 100,
    resumeMessages: 1000,
    resumeRounds: 5,
    ttftRuns: 10,
    modelTtftMs: 5,
    budgetSeconds: 105,
  },
} as const;

function parseList<T extends string>(value: string | undefined, allowed: readonly T[], what: string): T[] {
  if (value === undefined) return [...allowed];
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item))
      throw new Error(`unknown ${what} "${item}" (one of ${allowed.join(', ')})`);
  }
  return items as T[];
}

/** The soft limit on open files that child processes inherit (`ulimit -n`). */
function openFileLimit(): number {
  const output = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return output === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(output);
}

function installCleanup(): void {
  const bail = (code: number, message: string) => {
    console.error(message);
    killAllNow();
    process.exit(code);
  };
  process.on('SIGINT', () => bail(130, '\ninterrupted: stopping every bench process'));
  process.on('SIGTERM', () => bail(143, 'terminated: stopping every bench process'));
  process.on('uncaughtException', (error) => bail(1, `bench failed: ${describe(error)}`));
  process.on('unhandledRejection', (error) => bail(1, `bench failed: ${describe(error)}`));
  process.on('exit', () => killAllNow());
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      systems: { type: 'string' },
      ladders: { type: 'string' },
      'redis-url': { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const mode = values.quick ? 'quick' : 'full';
  const profile = PROFILES[mode];
  const scenarios = new Set<Scenario>(parseList(values.only, SCENARIOS, 'scenario'));
  const systems = parseList(values.systems, ALL_SYSTEMS, 'system');
  const ladders = new Set(parseList(values.ladders, LADDER_KINDS, 'ladder'));
  installCleanup();

  const startedAt = performance.now();
  const deadline = startedAt + profile.budgetSeconds * 1000;
  const log = (line: string) => console.log(line);
  const prefix = `chorus-bench-${randomBytes(4).toString('hex')}`;
  const profileDirectory = fileURLToPath(new URL('./results/profiles', import.meta.url));
  if (values.profile)
    log(
      `  CPU profiles of the fan-out servers go to bench/results/profiles/<system>/ (summarize: node bench/tools/profile-top.ts <file>)`,
    );
  const cpuList = cpus();
  log(
    `Chorus bench (${mode}): ${cpuList.length} cores, Node ${process.version}, scenarios ${[...scenarios].join(', ')}, systems ${systems.join(', ')}`,
  );

  const redis: BenchRedis = await startBenchRedis(values['redis-url']);
  log(
    `  Redis ${redis.version} at ${redis.url}${values['redis-url'] ? ` (prefix ${prefix})` : ' (own server)'}`,
  );
  const results: BenchResults = {
    date: new Date().toISOString(),
    mode,
    seconds: 0,
    machine: {
      cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
      cores: cpuList.length,
      memoryGB: Math.round(totalmem() / 1024 ** 3),
      os: `${platform()} ${release()}`,
      node: process.version,
      redis: redis.version,
      redisMode: values['redis-url'] ? 'shared server, bench prefix' : 'own redis-server, no persistence',
      loadAverage: { start: loadavg()[0] ?? 0, end: 0 },
    },
    settings: { ...profile },
    chorusSettings: { ...CHORUS_BENCH_SETTINGS, ...chorusOverrides() },
    fanout: {},
    memory: {},
    resume: null,
    ttft: { redis: null, memoryStore: null },
    notes: [],
  };
  let failures = 0;
  const attempt = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      failures += 1;
      const message = `${what} failed: ${describe(error).split('\n').slice(0, 6).join(' | ')}`;
      results.notes.push(message);
      console.error(`  ${message}`);
    }
  };

  const generators = [0, 1].map(
    (index) =>
      new ManagedChild('load/viewers.ts', {
        name: `load-generator-${index + 1}`,
        env: { BENCH_EPOCH: String(benchEpoch) },
      }),
  );
  try {
    await Promise.all(generators.map((generator) => generator.ready));

    // --- 1, 2: every system as two instances, measured interleaved; then 4, 5 on Chorus's pair ----
    const pairs = new Map<SystemName, SystemUnderTest>();
    const started: { chorus?: ChorusPair } = {};
    const startPair = async (system: SystemName) => {
      const options = {
        redisUrl: redis.url,
        prefix: `${prefix}-${system}`,
        ...(values.profile
          ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${profileDirectory}/${system}`] }
          : {}),
      };
      if (system === 'chorus') {
        started.chorus = await startChorus(options);
        pairs.set(system, started.chorus);
      } else {
        pairs.set(system, await startSystem(system, options));
      }
    };
    const pairSystems = scenarios.has('fanout')
      ? systems
      : systems.filter((system) => system === 'chorus' && (scenarios.has('resume') || scenarios.has('ttft')));
    try {
      for (const system of pairSystems) {
        await attempt(`starting ${SYSTEM_LABELS[system]}`, () => startPair(system));
      }
      if (scenarios.has('fanout') && pairs.size > 0) {
        log('\nFan-out: producer on instance A, viewers on instance B; systems interleaved per load level');
        await attempt('fan-out', async () => {
          const fanoutStart = performance.now();
          const fanoutOptions: FanoutOptions = {
            viewers: profile.viewers,
            warmUpSeconds: profile.warmUpSeconds,
            moderateRate: profile.moderateRate,
            moderateSeconds: profile.moderateSeconds,
            ladders: Object.fromEntries(
              Object.entries({
                rate: {
                  fixed: profile.viewers,
                  stepSeconds: profile.rateLadderSeconds,
                  refineSteps: profile.refineSteps,
                  startLoad: profile.startLoad,
                  deadline: Math.min(deadline, fanoutStart + profile.fanoutSeconds * 350),
                },
                viewers: {
                  fixed: profile.viewerLadderRate,
                  stepSeconds: profile.viewerLadderSeconds,
                  refineSteps: profile.refineSteps,
                  // Each load generator holds half of every system's viewers: 1.5 × maxViewers descriptors.
                  maxViewers: Math.min(profile.maxViewers, Math.floor(((openFileLimit() - 1000) * 2) / 3)),
                  startLoad: profile.startLoad,
                  deadline: Math.min(deadline, fanoutStart + profile.fanoutSeconds * 650),
                },
                threads: {
                  fixed: VIEWERS_PER_THREAD,
                  stepSeconds: profile.threadsLadderSeconds,
                  refineSteps: profile.refineSteps,
                  maxViewers: Math.min(profile.maxViewers, Math.floor(((openFileLimit() - 1000) * 2) / 3)),
                  startLoad: 5000,
                  deadline: Math.min(deadline, fanoutStart + profile.fanoutSeconds * 1000),
                },
              }).filter(([kind]) => ladders.has(kind as LadderKind)),
            ),
            attempts: profile.attempts,
            inconclusiveAttempts: profile.inconclusiveAttempts,
            log,
          };
          const runners = [...pairs].map(
            ([system, sut]) =>
              new FanoutRunner(
                { id: system, label: SYSTEM_LABELS[system], sut },
                generators,
                redis,
                fanoutOptions,
              ),
          );
          try {
            await runFanout(runners, fanoutOptions);
          } finally {
            for (const runner of runners) results.fanout[runner.id] = runner.result;
          }
        });
        await Promise.all(generators.map((generator) => generator.request('close-all', {})));
      }
      const chorusPair = started.chorus;
      if (chorusPair && scenarios.has('ttft')) {
        log('\nChorus, two instances on Redis: time to first token');
        await attempt('TTFT overhead (Redis)', async () => {
          results.ttft.redis = await measureTtft({
            server: chorusPair.a,
            portA: chorusPair.portA,
            viewerPorts: { 'A (same instance)': chorusPair.portA, 'B (other instance)': chorusPair.portB },
            runs: profile.ttftRuns,
            modelTtftMs: profile.modelTtftMs,
            log,
          });
        });
      }
      if (chorusPair && scenarios.has('resume')) {
        log('\nChorus, two instances on Redis: resume');
        await attempt('resume', async () => {
          results.resume = await measureResume({
            redisUrl: redis.url,
            prefix: `${prefix}-chorus`,
            port: chorusPair.portB,
            messages: profile.resumeMessages,
            rounds: profile.resumeRounds,
            log,
          });
        });
      }
    } finally {
      await Promise.all([...pairs.values()].map((pair) => pair.stop()));
      for (const system of pairs.keys()) await redis.reset(`${prefix}-${system}`);
    }

    // --- 5 on one instance with the in-memory store ------------------------------------------
    if (scenarios.has('ttft') && systems.includes('chorus')) {
      log('\nChorus, one instance, in-memory store: time to first token');
      await attempt('TTFT overhead (in-memory store)', async () => {
        const server = startChorusServer(
          'chorus-memory-store',
          chorusEnvironment({ prefix: `${prefix}-memory`, instanceId: 'bench-solo' }),
        );
        try {
          const ready = await server.ready;
          if (ready.store !== 'memory') throw new Error(`expected the in-memory store, got ${ready.store}`);
          results.ttft.memoryStore = await measureTtft({
            server,
            portA: ready.port,
            viewerPorts: { 'same instance': ready.port },
            runs: profile.ttftRuns,
            modelTtftMs: profile.modelTtftMs,
            log,
          });
        } finally {
          await server.stop();
        }
      });
    }

    // --- 3: memory per idle connection --------------------------------------------------------
    // Every connection is a descriptor in the server and in the load generator: stay within the
    // limit the processes inherit (`ulimit -n`), and say so when it made N smaller.
    const descriptorLimit = openFileLimit();
    const memoryConnections = Math.min(
      profile.memoryConnections,
      descriptorLimit - profile.memoryWarmup - 500,
    );
    if (scenarios.has('memory') && memoryConnections < profile.memoryConnections) {
      results.notes.push(
        `memory: ${memoryConnections} connections instead of ${profile.memoryConnections} (ulimit -n is ${descriptorLimit}; raise it to measure more)`,
      );
      results.settings.memoryConnections = memoryConnections;
    }
    if (scenarios.has('memory') && memoryConnections < 100) {
      results.notes.push(
        `memory: not run, ulimit -n (${descriptorLimit}) leaves room for too few connections`,
      );
    } else if (scenarios.has('memory')) {
      for (const system of systems) {
        if (performance.now() > deadline) {
          results.notes.push(`memory for ${SYSTEM_LABELS[system]} skipped: time budget`);
          continue;
        }
        log(`\n${SYSTEM_LABELS[system]}: memory per idle subscribed connection`);
        const systemPrefix = `${prefix}-memory-${system}`;
        await attempt(`memory on ${SYSTEM_LABELS[system]}`, async () => {
          try {
            results.memory[system] = await measureMemory({
              system,
              redisUrl: redis.url,
              prefix: systemPrefix,
              connections: memoryConnections,
              threads: profile.memoryThreads,
              warmup: profile.memoryWarmup,
              loadGenerator: generators[0]!,
              log,
            });
          } finally {
            await redis.reset(systemPrefix);
          }
        });
      }
    }
  } finally {
    await Promise.all(generators.map((generator) => generator.stop()));
    await redis.close();
  }

  results.seconds = (performance.now() - startedAt) / 1000;
  results.machine.loadAverage.end = loadavg()[0] ?? 0;
  const markdown = renderMarkdown(results);
  const directory = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(directory, { recursive: true });
  // Formatted as the repository formats everything (`npm run format:check` covers these files too).
  const style = (await resolveConfig(`${directory}latest.md`)) ?? {};
  await writeFile(`${directory}latest.md`, await format(markdown, { ...style, parser: 'markdown' }));
  await writeFile(
    `${directory}latest.json`,
    await format(JSON.stringify(results), { ...style, parser: 'json' }),
  );
  log(`\n${markdown}`);
  log(`Written: bench/results/latest.md, bench/results/latest.json (${results.seconds.toFixed(0)} s)`);
  if (liveChildren() > 0) {
    console.error(`${liveChildren()} bench processes were still running; killing them`);
    killAllNow();
  }
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${describe(error)}`);
    killAllNow();
    process.exit(1);
  },
);
