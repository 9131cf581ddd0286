// The processes the orchestrator starts (servers, load generators, the redis-server guard): every
// one is a Node child with an IPC channel (request/response, see ipc.ts), tracked here and ended
// when the orchestrator exits, is interrupted or fails; each also exits by itself when the channel
// closes, so that even an orchestrator killed with SIGKILL leaves nothing behind.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, isIpcMessage, type IpcRequest } from './ipc.ts';

const live = new Set<ChildProcess>();
const benchRoot = fileURLToPath(new URL('..', import.meta.url));
const OUTPUT_TAIL_CHARS = 4000;

export interface ChildOptions {
  /** A name for messages. */
  name: string;
  env: Record<string, string>;
  execArgv?: string[];
  /** How long the child may take to announce itself. @default 20000 */
  readyTimeoutMs?: number;
}

/** A child process with its output tail and exit, killed with the orchestrator. */
class TrackedProcess {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private output = '';
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.process = child;
    live.add(child);
    const keep = (chunk: Buffer | string) => {
      this.output = (this.output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
    child.on('error', (error) => keep(`\n[spawn error] ${error.message}\n`));
  }

  tail(): string {
    return this.output.trim().split('\n').slice(-15).join('\n');
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  async kill(graceMs = 3000): Promise<void> {
    if (this.exitStatus) return;
    this.process.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!killed) {
      this.process.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** A Node child (a .ts file under bench/) with an IPC channel. */
export class ManagedChild<Ready = unknown> extends TrackedProcess {
  readonly ready: Promise<Ready>;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(script: string, options: ChildOptions) {
    const child = fork(`${benchRoot}${script}`, [], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
      execArgv: options.execArgv ?? [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    super(options.name, child);
    let readyTimer: NodeJS.Timeout | undefined;
    this.ready = new Promise<Ready>((resolve, reject) => {
      readyTimer = setTimeout(
        () =>
          reject(
            new Error(
              `${this.name} did not start within ${options.readyTimeoutMs ?? 20_000} ms:\n${this.tail()}`,
            ),
          ),
        options.readyTimeoutMs ?? 20_000,
      );
      child.on('message', (message: unknown) => {
        if (!isIpcMessage(message)) return;
        if (message.kind === 'ready') {
          clearTimeout(readyTimer);
          resolve(message.data as Ready);
        } else if (message.kind === 'response') {
          const waiter = this.pending.get(message.id);
          if (!waiter) return;
          this.pending.delete(message.id);
          clearTimeout(waiter.timer);
          if (message.ok) waiter.resolve(message.result);
          else waiter.reject(new Error(`${this.name}: ${message.error ?? 'request failed'}`));
        }
      });
      void this.exited.then((status) => {
        clearTimeout(readyTimer);
        const error = new Error(`${this.name} exited (${JSON.stringify(status)}):\n${this.tail()}`);
        reject(error);
        for (const [id, waiter] of this.pending) {
          clearTimeout(waiter.timer);
          waiter.reject(error);
          this.pending.delete(id);
        }
      });
    });
    // A failed start is reported by whoever awaits `ready`; this only keeps it from being unhandled.
    this.ready.catch(() => undefined);
  }

  /** Sends a request and resolves with its result (the caller names the result's type). */
  request<Result>(type: string, payload: unknown = {}, timeoutMs = 30_000): Promise<Result> {
    if (this.exitStatus || !this.process.connected) {
      return Promise.reject(new Error(`${this.name} is not running:\n${this.tail()}`));
    }
    const id = this.nextId;
    this.nextId += 1;
    return new Promise<Result>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: "${type}" got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: (value) => resolve(value as Result), reject, timer });
      this.process.send({ kind: 'request', id, type, payload } satisfies IpcRequest, (error) => {
        if (!error) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error(`${this.name}: could not send "${type}": ${error.message}`));
      });
    });
  }

  /** Asks the child to shut down, then makes sure it is gone. */
  async stop(): Promise<void> {
    if (this.exitStatus) return;
    await this.request('shutdown', {}, 10_000).catch((error: unknown) => {
      if (!this.exitStatus)
        console.warn(
          `  ${this.name}: shutdown request failed (${describe(error).split('\n')[0]}); killing it`,
        );
    });
    await this.kill(3000);
  }
}

/** Ends every child still running (SIGKILL): for exit paths that cannot wait. */
export function killAllNow(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export function liveChildren(): number {
  return live.size;
}
