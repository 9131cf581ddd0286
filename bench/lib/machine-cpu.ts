// Machine-wide CPU use from /proc/stat (Linux), to tell how much of a step's CPU went to work
// that is not the bench's: other processes on a shared machine make the figures noisy, and the
// report says so rather than hiding it.
import { readFile } from 'node:fs/promises';

/** Busy and total CPU time of the whole machine so far, in ms (all cores); null off Linux. */
export async function machineCpu(): Promise<{ busyMs: number; totalMs: number } | null> {
  let text: string;
  try {
    text = await readFile('/proc/stat', 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
  const fields = text.split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal …, in USER_HZ (1/100 s).
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busyMs: (total - idle) * 10, totalMs: total * 10 };
}
