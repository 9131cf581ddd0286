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

/** A process that exits before it listens this many times in a row: the supervisor gives up. */
const START_FAILURES_BEFORE_GIVING_UP = 3;

/** The supervised instance's number (1, 2, …, kept by its replacement), for its instance id. */
export function supervisedInstanceNumber(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const number = Number(process.env.CHORUS_INSTANCE_NUMBER);
  return Number.isInteger(number) && number > 0 ? number : cluster.worker?.id;
}

export function superviseProcesses(options: SupervisorOptions): void {
  const { count, logger } = options;
  let stopping = false;
  let announced = false;
  let failed = false;
  const restarts: number[] = [];
  /** Each process's instance number: a replacement takes the number of the one it replaces. */
  const numbers = new Map<Worker, number>();
  const listened = new Set<Worker>();
  let startFailures = 0;

  const start = (number: number) => {
    const worker = cluster.fork({ CHORUS_INSTANCE_NUMBER: String(number) });
    numbers.set(worker, number);
    logger.info({ pid: worker.process.pid, instance: number }, 'instance process started');
  };

  cluster.on('listening', (worker: Worker, address) => {
    listened.add(worker);
    startFailures = 0;
    if (announced) return;
    announced = true;
    options.onListening(address.port);
  });

  cluster.on('exit', (worker, code, signal) => {
    const number = numbers.get(worker) ?? worker.id;
    numbers.delete(worker);
    if (stopping) {
      if (code !== 0) failed = true;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed ? 1 : 0);
      return;
    }
    // One that never listened failed at start-up (a bad team file, a port in use …): the same
    // would happen again, so after a few in a row the supervisor stops, as one instance would.
    if (!listened.delete(worker)) startFailures += 1;
    if (startFailures >= START_FAILURES_BEFORE_GIVING_UP) {
      logger.fatal(
        { failures: startFailures },
        'instance processes keep failing at start-up (their error is above); stopping',
      );
      failed = true;
      stop('SIGTERM');
      return;
    }
    logger.error(
      { pid: worker.process.pid, instance: number, code, signal },
      'an instance process exited; starting another',
    );
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && now - (restarts[0] ?? now) > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > RESTARTS_BEFORE_DELAY) setTimeout(() => start(number), RESTART_DELAY_MS);
    else start(number);
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the instance processes');
    const workers = Object.values(cluster.workers ?? {}).filter((worker) => worker !== undefined);
    if (workers.length === 0) process.exit(failed ? 1 : 0);
    for (const worker of workers) worker.process.kill('SIGTERM');
    setTimeout(() => {
      logger.error('instance processes did not stop in time; killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, options.stopTimeoutMs).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let number = 1; number <= count; number += 1) start(number);
}
