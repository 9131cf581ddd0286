// What a command runs with: its options, a client made from them, and where it writes.
import { ChorusClient, ChorusError, ClientErrorCode } from '../client/index.ts';
import type { CliOptions } from './cli-options.ts';
import { ExitCode } from './exit-code.ts';

export interface CliContext {
  options: CliOptions;
  client: ChorusClient;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Resolves when the user asks to stop (SIGINT, SIGTERM). */
  stopRequested: Promise<void>;
}

export function createClient(options: CliOptions): ChorusClient {
  return new ChorusClient({
    url: options.url,
    ...(options.token ? { token: options.token } : {}),
    ...(options.user ? { user: options.user } : {}),
    requestTimeoutMs: options.timeoutMs,
    connectTimeoutMs: options.timeoutMs,
  });
}

const CONNECTION_CODES: ReadonlySet<string> = new Set([
  ClientErrorCode.timeout,
  ClientErrorCode.disconnected,
  ClientErrorCode.closed,
  ClientErrorCode.rejected,
  ClientErrorCode.tokenExpired,
  ClientErrorCode.incompatible,
  ClientErrorCode.token,
  'unauthorized',
]);

/** Prints why a command failed and returns its exit code. */
export function reportFailure(context: CliContext, error: unknown): ExitCode {
  if (!(error instanceof ChorusError)) throw error;
  context.stderr(`chorus: ${error.code}: ${error.message}\n`);
  return CONNECTION_CODES.has(error.code) ? ExitCode.connection : ExitCode.refused;
}
