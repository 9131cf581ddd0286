// Several instances on one host (CHORUS_PROCESSES): this process becomes a supervisor that runs
// that many instance processes (node:cluster), which share its port — the kernel hands each new
// connection to one of them. They are ordinary instances (own instance id, own event loop: one
// core each), sharing threads through Redis exactly as instances on separate hosts do; so the
// in-memory store, which is one process's, cannot be used with more than one.
// The supervisor starts a process again when one dies (a crash is a failover: the others take
// over its runs; its clients reconnect and resume), forwards SIGTERM / SIGINT so that every
// instance drains, and exits when all have.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../log.ts';

/** Restarts within this window count towards the back-off. */
const RESTART_WINDOW_MS = 10_000;
/** More restarts than this within the window wait RESTART_DELAY_MS each (a crash loop). */
const RESTARTS_BEFORE_DELAY = 3;
const RESTART_DELAY_MS = 1000;

export interface SupervisorOptions {
  count: number;
  logger: Logger;
  /** How long instances may take to drain after SIGTERM before they are killed. */
  stopTimeoutMs: number;
  /** Called once, when the first instance listens. */
  onListening: (port: number) => void;
}

/** Whether this process is an instance started by a supervisor. */
export function isSupervisedInstance(): boolean {
  return cluster.isWorker;
}

/** The supervised instance's number (1, 2, …), for its instance id. */
export function supervisedInstanceNumber(): number | undefined {
  return cluster.worker?.id;
}

export function superviseProcesses(options: SupervisorOptions): void {
  const { count, logger } = options;
  let stopping = false;
  let announced = false;
  let failed = false;
  const restarts: number[] = [];

  const start = () => {
    const worker = cluster.fork();
    logger.info({ pid: worker.process.pid, instance: worker.id }, 'instance process started');
  };

  cluster.on('listening', (_worker: Worker, address) => {
    if (announced) return;
    announced = true;
    options.onListening(address.port);
  });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) failed = true;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    logger.error(
      { pid: worker.process.pid, instance: worker.id, code, signal },
      'an instance process exited; starting another',
    );
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && now - (restarts[0] ?? now) > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > RESTARTS_BEFORE_DELAY) setTimeout(start, RESTART_DELAY_MS);
    else start();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the instance processes');
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    if (workers.length === 0) process.exit(0);
    for (const worker of workers) worker.process.kill('SIGTERM');
    setTimeout(() => {
      logger.error('instance processes did not stop in time; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, options.stopTimeoutMs).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let index = 0; index < count; index += 1) start();
}
