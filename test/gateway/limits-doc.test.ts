// protocol.md states every limit a client can reach and every claim a token is checked for, and
// docs/security.md lists the same limits: a limit or claim added without documentation fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config.ts';

const protocol = readFileSync(new URL('../../protocol.md', import.meta.url), 'utf8');
const security = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');

/** The text of the section under `heading` (up to the next heading of the same or a higher level). */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.replace(/^#+\s*/, '') === heading && line.startsWith('#'));
  if (start < 0) throw new Error(`no section "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex(
    (line, index) => index > start && /^#+\s/.test(line) && /^#+/.exec(line)![0].length <= level,
  );
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** Tuning settings whose names look like limits but bound nothing a client does. */
const tuning = new Set(['CHORUS_DELTA_WINDOW_MAX_MS', 'CHORUS_REDIS_COMMAND_TIMEOUT_MS']);

/** Settings that bound what one client can make the server do. */
const limitVariables = Object.keys(configSchema.shape).filter(
  (name) =>
    !tuning.has(name) &&
    /_(MAX_|RATE$|BURST$|LIMIT$|TIMEOUT_MS$|HEARTBEAT_MS$|HISTORY_MAXLEN$|QUEUE_MAX$)|_MAX_/.test(name),
);

describe('the documented limits', () => {
  it('finds the limit settings, the new rates among them', () => {
    expect(limitVariables).toEqual(
      expect.arrayContaining([
        'CHORUS_POST_RATE',
        'CHORUS_SUBSCRIBE_RATE',
        'CHORUS_SUBSCRIBE_BURST',
        'CHORUS_CREATE_RATE',
        'CHORUS_CREATE_BURST',
        'CHORUS_MAX_HELD_BYTES',
        'CHORUS_MAX_SUBSCRIPTIONS',
      ]),
    );
  });

  it.each(limitVariables)("protocol.md's Limits table names %s", (name) => {
    expect(section(protocol, 'Limits')).toContain(`\`${name}\``);
  });

  it.each(limitVariables)("docs/security.md's limits table names %s", (name) => {
    expect(section(security, 'What is limited')).toContain(`\`${name}\``);
  });

  it('protocol.md names rate-limited for every request bucket', () => {
    const limits = section(protocol, 'Limits');
    for (const row of [
      'posts per connection',
      'subscribes per connection',
      '`create-thread` requests per connection',
    ]) {
      const line = limits.split('\n').find((each) => each.startsWith(`| ${row}`));
      expect(line, row).toContain('`rate-limited` with `retryAfterMs`');
    }
  });
});

describe('the documented claims', () => {
  const authentication = section(protocol, 'Authentication');
  it.each(['sub', 'threads', 'role', 'exp', 'iss', 'aud'])('protocol.md has a claim row for %s', (claim) => {
    expect(authentication.split('\n').filter((line) => line.startsWith(`| \`${claim}\``))).toHaveLength(1);
  });

  it('says that a missing role means viewer and names the issuer, audience and no-exp settings', () => {
    expect(authentication).toMatch(/missing means `viewer`/);
    for (const name of ['CHORUS_AUTH_ISSUER', 'CHORUS_AUTH_AUDIENCE', 'CHORUS_AUTH_ALLOW_NO_EXP'])
      expect(authentication).toContain(name);
  });
});
