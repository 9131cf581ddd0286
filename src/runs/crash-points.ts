// Named points in the run layer where a test can kill the process (SIGKILL, no cleanup) to prove
// what a crash there leaves and who repairs it. Only with NODE_ENV=test and CHORUS_TEST_CRASH_AT
// naming the point (optionally `point:N`, the Nth time it is reached); a no-op otherwise.
export const CrashPoint = {
  /** A post was stored, published and queued (a run may have started with it); no reply sent yet. */
  postStored: 'post-stored',
  /** A run's start is durable and published; the model has not been called. */
  runStarted: 'run-started',
  /** An agent message's start was published. */
  messageStarted: 'message-started',
  /** An agent message was stored; the run has not ended. */
  messageEnded: 'message-ended',
  /** The lease holder found a run without its end and is about to recover it. */
  beforeRecover: 'before-recover',
} as const;
export type CrashPoint = (typeof CrashPoint)[keyof typeof CrashPoint];

const configured = process.env.NODE_ENV === 'test' ? process.env.CHORUS_TEST_CRASH_AT : undefined;
const [crashPoint, crashCount] = (configured ?? '').split(':');
const wanted = Number(crashCount ?? '1') || 1;
let reached = 0;

export function reach(point: CrashPoint): void {
  if (point !== crashPoint) return;
  reached += 1;
  if (reached === wanted) process.kill(process.pid, 'SIGKILL');
}
