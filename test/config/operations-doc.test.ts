// docs/operations.md lists every metric Chorus exports (besides the default process metrics), and
// README.md lists every HTTP endpoint; a metric added without documentation fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';

const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The first cell of every table row, unbackticked. */
function firstCells(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.split('|')[1]?.trim().replace(/^`|`$/g, '') ?? '');
}

describe('docs/operations.md', () => {
  const metrics = new Metrics();
  metrics.watchModelConcurrency({ active: 0, waiting: 0 });
  const metricNames = metrics.registry.getMetricsAsArray().map((metric) => metric.name);

  it('finds the metrics to check', () => {
    expect(metricNames.length).toBeGreaterThan(5);
  });

  it.each(metricNames)('documents the metric %s in its metrics table', (name) => {
    expect(firstCells(operations), `docs/operations.md has no table row for ${name}`).toContain(name);
  });

  it("names the default process metrics as it says: prom-client's names under chorus_", () => {
    const withDefaults = new Metrics({ defaultMetrics: true });
    const names = withDefaults.registry.getMetricsAsArray().map((metric) => metric.name);
    for (const name of [
      'chorus_process_cpu_seconds_total',
      'chorus_process_resident_memory_bytes',
      'chorus_nodejs_eventloop_lag_p99_seconds',
      'chorus_nodejs_heap_size_used_bytes',
    ]) {
      expect(names).toContain(name);
      expect(operations).toContain(name);
    }
    expect(names.filter((name) => !name.startsWith('chorus_'))).toEqual([]);
  });

  it('documents no metric that does not exist', () => {
    const documented = firstCells(operations).filter((cell) => /^chorus_[a-z_]+$/.test(cell));
    expect(documented.filter((name) => !metricNames.includes(name))).toEqual([]);
  });
});

describe("README.md's endpoint table", () => {
  it.each(['/ws', '/', '/healthz', '/readyz', '/metrics'])('lists %s', (path) => {
    expect(firstCells(readme)).toContain(path);
  });
});
