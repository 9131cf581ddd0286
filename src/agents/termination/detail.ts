// The `detail` a termination decision carries (run-end `detail` on the wire when it fires).
export const TerminationDetail = {
  maxIterations: 'max-iterations',
  approval: 'approval',
  judge: 'judge',
  tokenBudget: 'token-budget',
  timeout: 'timeout',
  external: 'external',
  custom: 'custom',
} as const;
export type TerminationDetail = (typeof TerminationDetail)[keyof typeof TerminationDetail];

/** Whether a strategy scoped to `agents` (names; undefined: everyone) watches `name`. */
export function watches(agents: ReadonlySet<string> | undefined, name: string): boolean {
  return agents === undefined || agents.has(name);
}

export function describeScope(agents: ReadonlySet<string> | undefined): string {
  return agents === undefined ? 'any agent' : [...agents].join(' or ');
}
