// Runs the bench's own redis-server and ends it when the orchestrator goes away, even if the
// orchestrator was killed outright (its IPC channel closes): redis-server itself has no way to
// follow its parent. Arguments come in BENCH_REDIS_ARGS (a JSON array).
import { spawn } from 'node:child_process';
import { announceReady, describe, serveRequests } from '../lib/ipc.ts';

const args = JSON.parse(process.env.BENCH_REDIS_ARGS ?? '[]') as string[];
const redis = spawn('redis-server', args, { stdio: ['ignore', 'inherit', 'inherit'] });
const exited = new Promise<void>((resolve) => redis.on('exit', () => resolve()));
redis.on('error', (error) => {
  console.error(`redis-server: ${describe(error)}`);
  process.exit(1);
});
redis.on('exit', (code, signal) => {
  if (!stopping) {
    console.error(`redis-server exited (${code ?? signal})`);
    process.exit(1);
  }
});
let stopping = false;
const stop = async () => {
  stopping = true;
  redis.kill('SIGTERM');
  const timer = setTimeout(() => redis.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
};
// The IPC channel closing (orchestrator gone) ends this process; take redis-server along.
process.on('exit', () => {
  if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
});
process.on('SIGTERM', () => {
  void stop().then(() => process.exit(0));
});
serveRequests({}, stop);
announceReady({ pid: redis.pid });
