// Prometheus metrics (`/metrics`), one registry per app so that several apps in one process
// (tests) do not collide. Names are prefixed `chorus_`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: 'chorus_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly subscriptions = new Gauge({
    name: 'chorus_subscriptions',
    help: 'Thread subscriptions on this instance, by transport (ws: WebSocket subscribe; sse: SSE and AG-UI streams)',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly framesIn = new Counter({
    name: 'chorus_frames_received_total',
    help: 'Client frames received, by type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  /** Frames sent since the last scrape (a plain count: the fan-out path adds one per socket write). */
  private unreportedFramesOut = 0;
  readonly framesOut = new Counter({
    name: 'chorus_frames_sent_total',
    help: 'Frames sent to clients',
    registers: [this.registry],
    collect: () => {
      this.framesOut.inc(this.unreportedFramesOut);
      this.unreportedFramesOut = 0;
    },
  });

  countFrameOut(): void {
    this.unreportedFramesOut += 1;
  }
  readonly errors = new Counter({
    name: 'chorus_errors_sent_total',
    help: 'Errors answered, by code and transport (ws: error frames; http: error responses and in-stream errors)',
    labelNames: ['code', 'transport'],
    registers: [this.registry],
  });
  readonly closes = new Counter({
    name: 'chorus_connections_closed_total',
    help: 'Connections closed by the server, by close code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly runsActive = new Gauge({
    name: 'chorus_runs_active',
    help: 'Runs executing on this instance',
    registers: [this.registry],
  });
  readonly runs = new Counter({
    name: 'chorus_runs_total',
    help: 'Runs finished on this instance, by run-end reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly speculativeTurns = new Counter({
    name: 'chorus_speculative_turns_total',
    help: 'Runs whose first turn started before their post was stored: used, or discarded (the run started elsewhere or with another context)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'chorus_messages_stored_total',
    help: 'Messages stored, by role and status',
    labelNames: ['role', 'status'],
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: 'chorus_model_output_tokens_total',
    help: 'Output tokens reported by models',
    registers: [this.registry],
  });
  readonly resumeSeconds = new Histogram({
    name: 'chorus_subscribe_seconds',
    help: 'Server time to answer a subscribe or join an SSE stream (backlog and snapshot)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Exports the model-stream semaphore: streams running and agent turns waiting for one. */
  watchModelConcurrency(semaphore: { readonly active: number; readonly waiting: number }): void {
    new Gauge({
      name: 'chorus_model_streams_active',
      help: 'Model streams running on this instance',
      registers: [this.registry],
      collect() {
        this.set(semaphore.active);
      },
    });
    new Gauge({
      name: 'chorus_model_streams_waiting',
      help: 'Agent turns waiting for a model stream (CHORUS_MODEL_CONCURRENCY)',
      registers: [this.registry],
      collect() {
        this.set(semaphore.waiting);
      },
    });
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'chorus_' });
  }
}
