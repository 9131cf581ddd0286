// The `chorus` command's exit codes (README, Terminal client).
export const ExitCode = {
  /** Done (for `watch`: stopped with Ctrl-C or SIGTERM). */
  ok: 0,
  /** The server refused the request (`not-found`, `forbidden`, `busy` …; the code is printed). */
  refused: 1,
  /** Bad usage: unknown command or option, missing argument. */
  usage: 2,
  /** No connection: the server could not be reached in time, or closed for good (unauthorized, incompatible). */
  connection: 3,
  /** `watch`: the thread was deleted. */
  deleted: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
