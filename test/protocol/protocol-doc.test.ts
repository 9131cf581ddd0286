// Keeps protocol.md honest: every frame type of the schemas, every error code and every close code
// is documented, as a heading or in a table (backticked where it is a name).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CloseCode,
  ErrorCode,
  MessageStatus,
  retryableErrorCodes,
  RunEndReason,
} from '../../src/protocol/codes.ts';
import { clientFrameTypes, serverFrameTypes } from '../../src/protocol/frames.ts';

const protocolDoc = readFileSync(new URL('../../protocol.md', import.meta.url), 'utf8');
const lines = protocolDoc.split('\n');

const headings = lines.filter((line) => line.startsWith('#'));
const tableCells = lines
  .filter((line) => line.startsWith('|'))
  .flatMap((line) => line.split('|').map((cell) => cell.trim()));

/** Table rows whose first cell is exactly `value` (backticked or bare): the row that defines it. */
function definingRows(value: string): string[] {
  return lines.filter((line) => {
    if (!line.startsWith('|')) return false;
    const firstCell = line.split('|')[1]?.trim();
    return firstCell === `\`${value}\`` || firstCell === value;
  });
}

/** A frame type is documented by a heading naming it or a table cell that starts with it. */
function documented(name: string): boolean {
  const backticked = `\`${name}\``;
  return (
    headings.some((line) => line.includes(backticked)) ||
    tableCells.some((cell) => cell.startsWith(backticked))
  );
}

describe('protocol.md documents the schemas', () => {
  it.each(clientFrameTypes)('client frame `%s` appears in a heading or a table', (type) => {
    expect(
      documented(type),
      `protocol.md never names the client frame \`${type}\` in a heading or table`,
    ).toBe(true);
  });

  it.each(serverFrameTypes)('server frame `%s` appears in a heading or a table', (type) => {
    expect(
      documented(type),
      `protocol.md never names the server frame \`${type}\` in a heading or table`,
    ).toBe(true);
  });

  it.each(Object.values(ErrorCode))('error code `%s` has its row in the error table', (code) => {
    const rows = definingRows(code);
    expect(rows, `protocol.md has no table row for the error code \`${code}\``).toHaveLength(1);
  });

  it('the error table states retryable exactly as codes.ts does', () => {
    for (const code of Object.values(ErrorCode)) {
      const cells =
        definingRows(code)[0]
          ?.split('|')
          .map((cell) => cell.trim()) ?? [];
      const retryable = cells.at(-2);
      expect(retryable, `retryable cell of \`${code}\``).toBe(retryableErrorCodes.has(code) ? 'yes' : 'no');
    }
  });

  it.each(Object.values(CloseCode))('close code %i has its row in the close-code table', (code) => {
    const rows = definingRows(String(code));
    expect(rows, `protocol.md has no table row for the close code ${code}`).toHaveLength(1);
  });

  it('names the close-code ranges of the core', () => {
    expect(definingRows('4000–4499 (others)')).toHaveLength(1);
    expect(definingRows('4500–4999 (others)')).toHaveLength(1);
  });

  it.each(Object.values(RunEndReason))('run-end reason `%s` has its row', (reason) => {
    expect(
      definingRows(reason).length,
      `protocol.md has no table row for run-end reason \`${reason}\``,
    ).toBeGreaterThan(0);
  });

  it.each(Object.values(MessageStatus))('message status `%s` is documented', (status) => {
    expect(protocolDoc.includes(`\`${status}\``), `protocol.md never names the status \`${status}\``).toBe(
      true,
    );
  });

  it('keeps the subprotocol name and endpoint of the core', () => {
    expect(protocolDoc).toContain('`chorus.v1`');
    expect(protocolDoc).toContain('`/ws`');
  });
});
