// `${NAME}` references in MCP server definitions: `Authorization: Bearer ${GITHUB_TOKEN}` names
// the variable in the file and takes its value from the environment when the connection is made,
// so that the secret is neither in the file nor in a log. Only `${` + a variable name + `}` is a
// reference; any other `$` is kept as it is.

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type Environment = Readonly<Record<string, string | undefined>>;

/** The variables `text` refers to, in order, each once. */
export function referencedVariables(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(REFERENCE), (match) => match[1]!))];
}

/** `text` with every reference replaced; throws naming the first variable that is not set. */
export function expandReferences(text: string, environment: Environment): string {
  return text.replace(REFERENCE, (_reference, variable: string) => {
    const value = environment[variable];
    if (value === undefined || value === '') {
      throw new Error(`the environment variable ${variable} is not set`);
    }
    return value;
  });
}

/** Every value of `record` expanded (see expandReferences). */
export function expandRecord(
  record: Readonly<Record<string, string>> | undefined,
  environment: Environment,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record ?? {}).map(([key, value]) => [key, expandReferences(value, environment)]),
  );
}
