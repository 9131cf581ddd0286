// The client's own liveness check, so that a silent drop (a dead peer, a NAT that forgot the
// connection, a network that blackholes packets) is noticed in seconds, not after the server's
// heartbeat or the operating system's TCP timeout. Any frame received proves the connection alive;
// after `intervalMs` without one, a `ping` frame is sent, and when nothing at all has arrived
// `timeoutMs` later, the connection is declared dead. A long backlog keeps it alive by itself.
export interface LivenessOptions {
  intervalMs: number;
  timeoutMs: number;
  sendPing: () => void;
  onDead: (silentForMs: number) => void;
  now?: (() => number) | undefined;
}

export class Liveness {
  private readonly options: LivenessOptions;
  private readonly now: () => number;
  private lastReceivedAt = 0;
  private pingSentAt: number | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;

  constructor(options: LivenessOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.running = true;
    this.lastReceivedAt = this.now();
    this.pingSentAt = null;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** A frame arrived. */
  received(): void {
    this.lastReceivedAt = this.now();
  }

  /** Checks at once (the browser said it went offline): a ping now, the deadline from now. */
  probe(): void {
    if (!this.running || this.pingSentAt !== null) return;
    this.ping();
    this.schedule();
  }

  private tick(): void {
    if (!this.running) return;
    const now = this.now();
    if (this.pingSentAt !== null) {
      if (this.lastReceivedAt >= this.pingSentAt) this.pingSentAt = null;
      else if (now - this.pingSentAt >= this.options.timeoutMs) {
        this.stop();
        this.options.onDead(now - this.lastReceivedAt);
        return;
      }
    }
    if (this.pingSentAt === null && now - this.lastReceivedAt >= this.options.intervalMs) this.ping();
    this.schedule();
  }

  private ping(): void {
    this.pingSentAt = this.now();
    this.options.sendPing();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const wakeAt =
      this.pingSentAt !== null
        ? this.pingSentAt + this.options.timeoutMs
        : this.lastReceivedAt + this.options.intervalMs;
    this.timer = setTimeout(() => this.tick(), Math.max(0, wakeAt - this.now()));
    unrefTimer(this.timer);
  }
}

/** In Node, a pending check must not keep the process alive by itself. */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function')
    timer.unref();
}
