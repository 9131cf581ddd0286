// Helpers for the team-file tests: fixtures, YAML from numbered lines, and the issues a bad file gets.
import { readFileSync } from 'node:fs';
import { parseTeamFile, TeamFileError, type TeamFileIssue } from '../../src/teams/team-file.ts';

export const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/teams/${name}`, import.meta.url), 'utf8');

/** The issues a bad file gets (fails when it parses). */
export function issuesOf(
  text: string,
  options: Parameters<typeof parseTeamFile>[1] = {},
): readonly TeamFileIssue[] {
  try {
    parseTeamFile(text, { fileName: 'teams.yaml', ...options });
  } catch (error) {
    if (error instanceof TeamFileError) return error.issues;
    throw error;
  }
  throw new Error('the file parsed, but it should not have');
}

/** A YAML file from numbered lines, so the expected line numbers can be read off the test. */
export const lines = (...content: string[]) => `${content.join('\n')}\n`;

/** Lines 1–5 of a file: team `review` with one agent, `planner` (line 4). */
export const AGENT = [
  'teams:',
  '  review:',
  '    agents:',
  '      - name: planner',
  '        instructions: Plan.',
];
