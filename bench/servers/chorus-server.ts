// A Chorus instance for the bench: the real composition root (createApp) with the bench team, whose
// one agent runs on the BenchModel. Configured from the environment like `npm start` (the
// orchestrator passes PORT=0, REDIS_URL, CHORUS_REDIS_PREFIX …). Bench-only requests over IPC:
// memory (after a full GC when started with --expose-gc), stats (CPU, event loop), model-turns
// (the BenchModel's timings) and active-runs. Nothing here changes Chorus itself.
import { Agent } from '../../src/agents/agent.ts';
import { GroupChat } from '../../src/agents/group-chat.ts';
import { createApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createStoreFromConfig } from '../../src/store/create-store.ts';
import { TeamRegistry, type Team } from '../../src/teams/team.ts';
import { BENCH_TEAM, BenchModel } from '../bench-model.ts';
import {
  announceReady,
  collectedMemory,
  memoryFlavor,
  describe,
  processStats,
  serveRequests,
} from '../lib/ipc.ts';

export interface ChorusServerReady {
  port: number;
  instanceId: string;
  store: string;
}

function benchTeam(model: BenchModel): Team {
  return {
    name: BENCH_TEAM,
    description: 'One producer agent on the bench model; one turn per post.',
    agentNames: ['producer'],
    multitask: 'queue',
    createGroupChat: () =>
      new GroupChat({
        agents: [new Agent({ name: 'producer', instructions: 'Produce bench tokens.', model })],
        selection: { select: ({ agents }) => agents[0]! },
        termination: { shouldTerminate: () => ({ terminate: true, detail: 'bench' }) },
        maxIterations: 1,
      }),
    models: () => [model],
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'chorus-bench' });
  const model = new BenchModel();
  const store = await createStoreFromConfig(config, logger);
  const app: App = await createApp({ config, logger, store, teams: new TeamRegistry([benchTeam(model)]) });
  const port = await app.start();

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= app.shutdown(0);
    return stopping;
  };
  process.on('SIGTERM', () => {
    shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(describe(error));
        process.exit(1);
      },
    );
  });
  serveRequests(
    {
      memory: (payload) => collectedMemory(memoryFlavor(payload)),
      stats: () => processStats(),
      'model-turns': () => model.takeTurns(),
      'active-runs': () => app.runs.activeRuns,
      'lease-free': async (payload) =>
        !(await app.store.runState((payload as { threadId: string }).threadId)).leaseHeld,
    },
    shutdown,
  );
  announceReady({ port, instanceId: app.instanceId, store: store.kind } satisfies ChorusServerReady);
}

main().catch((error: unknown) => {
  console.error(describe(error));
  process.exit(1);
});
