// The failover sweep: every half lease time, runs whose instance died are looked for and recovered
// (their partial message stored `interrupted`, `run-end` published, queued posts run). One sweep at
// a time; none while draining.
import type { Hub } from '../hub/hub.ts';
import type { Logger } from '../log.ts';
import type { RunManager } from '../runs/run-manager.ts';

export interface FailoverSweepOptions {
  runs: RunManager;
  hub: Hub;
  leaseMs: number;
  isDraining: () => boolean;
  logger: Logger;
}

/** Starts the sweep; returns a function that stops it. */
export function startFailoverSweep(options: FailoverSweepOptions): () => void {
  const { runs, hub, logger } = options;
  let sweeping = false;
  const timer = setInterval(
    () => {
      if (sweeping || options.isDraining()) return;
      sweeping = true;
      runs
        .sweep([...hub.threadIds()])
        .catch((error: unknown) => logger.warn({ err: error }, 'failover sweep failed'))
        .finally(() => {
          sweeping = false;
        });
    },
    Math.max(250, Math.floor(options.leaseMs / 2)),
  );
  timer.unref();
  return () => clearInterval(timer);
}
