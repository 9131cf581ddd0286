// README.md's configuration table mirrors configSchema (src/config.ts): every variable, once, with
// its default. A default cell is either a backticked value — which, read as that variable, must
// give exactly what the schema gives when the variable is unset — or starts with "unset" for a
// variable that has no default.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.ts';

interface Row {
  variable: string;
  defaultCell: string;
}

/** The rows of the first table under the `## Configuration` heading of README.md. */
function configurationTable(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^##\s+Configuration\b/.test(line));
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const rows: Row[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    const variable = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0] ?? '')?.[1];
    if (variable === undefined) continue; // the header and its separator
    rows.push({ variable, defaultCell: cells[1] ?? '' });
  }
  return rows;
}

/** The default a cell states: a backticked value, or undefined for "unset …". */
function statedDefault(cell: string): { value: string | undefined } | null {
  const backticked = /^`([^`]*)`/.exec(cell);
  if (backticked) return { value: backticked[1] };
  if (/^unset\b/i.test(cell)) return { value: undefined };
  return null;
}

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = configurationTable(readme);
const shape = configSchema.shape as Record<
  string,
  (typeof configSchema.shape)[keyof typeof configSchema.shape]
>;
const variables = Object.keys(shape);

describe("README.md's configuration table", () => {
  it('lists every variable of configSchema exactly once, and nothing else', () => {
    const listed = rows.map((row) => row.variable);
    expect(
      listed.filter((name, index) => listed.indexOf(name) !== index),
      'listed twice',
    ).toEqual([]);
    expect(
      variables.filter((name) => !listed.includes(name)),
      'in src/config.ts but not in README.md',
    ).toEqual([]);
    expect(
      listed.filter((name) => !variables.includes(name)),
      'in README.md but not in src/config.ts',
    ).toEqual([]);
  });

  it.each(variables)('states the default of %s', (variable) => {
    const row = rows.find((each) => each.variable === variable);
    if (!row) return; // reported by the test above
    const stated = statedDefault(row.defaultCell);
    expect(
      stated,
      `${variable}: the default cell "${row.defaultCell}" is neither \`value\` nor "unset"`,
    ).not.toBeNull();
    const schema = shape[variable]!;
    const actual = schema.parse(undefined);
    const fromReadme = schema.safeParse(stated?.value);
    expect(fromReadme.success, `${variable}: README's default "${stated?.value}" is not a valid value`).toBe(
      true,
    );
    expect(
      fromReadme.data,
      `${variable}: README says ${row.defaultCell}, src/config.ts defaults to ${String(actual)}`,
    ).toEqual(actual);
  });
});
