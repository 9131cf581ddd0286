// Environment → a validated Config. Every setting, its variable and its default are listed here
// once; README.md's configuration table mirrors this file (a test keeps them in sync).
import { z } from 'zod';

const integer = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
/** A boolean variable: `1`/`true` or `0`/`false`; unset or empty means `on`. */
const flag = (on: boolean) =>
  z
    .enum(['0', '1', 'true', 'false', ''])
    .optional()
    .transform((value) => (value === undefined || value === '' ? on : value === '1' || value === 'true'));

/**
 * CHORUS_CORS_ORIGINS: `*`, or exact origins separated by commas (`https://app.example.com`, as a
 * browser sends it in `Origin`: scheme, host and a port other than the scheme's, no path). Unset or
 * empty: [], no cross-origin access.
 */
const corsOrigins = z
  .string()
  .optional()
  .transform((value, context): '*' | readonly string[] => {
    const entries = (value ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
    if (entries.includes('*')) {
      if (entries.length === 1) return '*';
      context.addIssue({ code: 'custom', message: '`*` allows every origin: give it alone, not in a list' });
      return z.NEVER;
    }
    for (const entry of entries) {
      let origin: string | undefined;
      try {
        const url = new URL(entry);
        if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
      } catch {
        // not a URL at all
      }
      if (origin !== entry) {
        context.addIssue({
          code: 'custom',
          message: `"${entry.slice(0, 100)}" is not an origin: write scheme://host[:port] exactly as a browser sends it, with no path or trailing slash${origin ? ` (${origin})` : ' (e.g. https://app.example.com)'}, or \`*\``,
        });
        return z.NEVER;
      }
    }
    return entries;
  });

/** Each entry: environment variable → schema with its default. Documented in README.md. */
export const configSchema = z.object({
  PORT: integer(8080, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: z.string().optional(),
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: z.string().optional(),
  CHORUS_MODEL: z.string().default('gpt-5-mini'),
  CHORUS_TEAM_FILE: z.string().optional(),
  CHORUS_DEMO_TOKENS_PER_SECOND: z.coerce.number().min(0).default(40),
  CHORUS_AUTH_SECRET: z.string().optional(),
  CHORUS_AUTH_JWKS_URL: z
    .string()
    .refine(
      (text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol),
      'must be an http:// or https:// URL',
    )
    .optional(),
  CHORUS_AUTH_PUBLIC_KEY: z.string().optional(),
  CHORUS_AUTH_ISSUER: z.string().optional(),
  CHORUS_AUTH_AUDIENCE: z.string().optional(),
  CHORUS_AUTH_ALLOW_NO_EXP: flag(false),
  CHORUS_INSECURE: flag(false),
  CHORUS_MAX_FRAME_BYTES: integer(65_536, 1024, 16 * 1024 * 1024),
  CHORUS_LEASE_MS: integer(10_000, 500, 10_000),
  CHORUS_DRAIN_MS: integer(10_000, 0),
  CHORUS_REDIS_PREFIX: z.string().min(1).default('chorus'),
  CHORUS_REDIS_COMMAND_TIMEOUT_MS: integer(5000, 100, 10_000),
  CHORUS_HISTORY_MAXLEN: integer(0),
  CHORUS_HEARTBEAT_MS: integer(25_000, 100),
  CHORUS_SSE_HEARTBEAT_MS: integer(15_000, 50, 30_000),
  CHORUS_HELLO_TIMEOUT_MS: integer(10_000, 100),
  CHORUS_MAX_SUBSCRIPTIONS: integer(100, 1),
  CHORUS_MAX_BUFFERED_BYTES: integer(1_048_576, 1024),
  CHORUS_MAX_HELD_BYTES: integer(1_048_576, 1024),
  CHORUS_BACKLOG_LIMIT: integer(100, 1, 10_000),
  CHORUS_RESUME_LIMIT: integer(10_000, 1, 1_000_000),
  CHORUS_HISTORY_PAGE_LIMIT: integer(200, 1, 1000),
  CHORUS_QUEUE_MAX: integer(8, 0, 1000),
  CHORUS_MAX_ITERATIONS: integer(6, 1, 100),
  CHORUS_MODEL_CONCURRENCY: integer(64, 1, 100_000),
  CHORUS_DELTA_WINDOW_MS: integer(8, 0, 1000),
  CHORUS_DELTA_WINDOW_MAX_MS: integer(40, 0, 1000),
  CHORUS_SPECULATIVE_START: flag(true),
  CHORUS_PROCESSES: integer(1, 1, 64),
  CHORUS_POST_RATE: z.coerce.number().min(0).default(5),
  CHORUS_POST_BURST: integer(10, 1),
  CHORUS_SUBSCRIBE_RATE: z.coerce.number().min(0).default(10),
  /** Unset: CHORUS_MAX_SUBSCRIPTIONS (a client resuming all its threads subscribes at once). */
  CHORUS_SUBSCRIBE_BURST: z.coerce.number().int().min(1).optional(),
  CHORUS_CREATE_RATE: z.coerce.number().min(0).default(2),
  CHORUS_CREATE_BURST: integer(10, 1),
  CHORUS_REQUEST_RATE: z.coerce.number().min(0).default(20),
  CHORUS_REQUEST_BURST: integer(40, 1),
  CHORUS_CORS_ORIGINS: corsOrigins,
  CHORUS_INSTANCE_ID: z.string().optional(),
  CHORUS_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().default('development'),
});

export type Env = z.input<typeof configSchema>;

export interface Config {
  port: number;
  host: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  /** How long a Redis command may go unanswered before it fails `unavailable` (a hung Redis). */
  redisCommandTimeoutMs: number;
  openai: { apiKey: string | undefined; baseURL: string | undefined; model: string };
  teamFile: string | undefined;
  demoTokensPerSecond: number;
  auth: {
    secret: string | undefined;
    jwksUrl: string | undefined;
    publicKey: string | undefined;
    /** Required `iss` of tokens (unset: not checked). */
    issuer: string | undefined;
    /** Required `aud` of tokens (unset: not checked). */
    audience: string | undefined;
    /** Accept tokens without `exp` (otherwise refused). */
    allowNoExpiry: boolean;
    insecure: boolean;
  };
  maxFrameBytes: number;
  leaseMs: number;
  drainMs: number;
  historyMaxLength: number;
  heartbeatMs: number;
  /** Interval of the SSE streams' heartbeat comments (at most 30 s). */
  sseHeartbeatMs: number;
  helloTimeoutMs: number;
  maxSubscriptions: number;
  /** A connection whose unsent bytes exceed this is closed with 4008 (slow consumer). */
  maxBufferedBytes: number;
  /**
   * Events of a connection's threads held back while its posts are in flight (they follow the
   * post's reply); beyond this many bytes it is closed with 4008.
   */
  maxHeldBytes: number;
  /** Messages sent as backlog on a subscribe without cursor. */
  backlogLimit: number;
  /** Most missed messages a resume replays; beyond it the resume is `recovered: false`. */
  resumeLimit: number;
  historyPageLimit: number;
  /** Posts waiting for the next run per thread; beyond it a post gets `busy`. */
  queueMax: number;
  maxIterations: number;
  /** Text deltas within this window of the last published one leave as one frame (0: never merge). */
  deltaWindowMs: number;
  /** The merge window grows with the event loop's delay up to this (load-adaptive; ≤ deltaWindowMs: fixed). */
  deltaWindowMaxMs: number;
  /** Start a post's run before the post is stored when the instance holds its context. */
  speculativeStart: boolean;
  /** Model streams at once on this instance; further turns wait (chorus_model_streams_waiting). */
  modelConcurrency: number;
  /** Per-connection token buckets (rate per second, 0: unlimited; burst: the bucket's size). */
  postRate: number;
  postBurst: number;
  subscribeRate: number;
  /** At least maxSubscriptions. */
  subscribeBurst: number;
  createRate: number;
  createBurst: number;
  /** history, cancel and delete-thread requests (and the HTTP API's thread reads): one bucket. */
  requestRate: number;
  requestBurst: number;
  /**
   * Origins whose browser pages may call the HTTP API and AG-UI (CORS): `*` (any), exact origins, or
   * none ([]: same-origin only).
   */
  corsOrigins: '*' | readonly string[];
  instanceId: string | undefined;
  /** Instances `npm start` runs in this process's place, sharing its port (multi-core; Redis only). */
  processes: number;
  logLevel: string;
  production: boolean;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = configSchema.safeParse(defined);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const value = parsed.data;
  const subscribeBurst = value.CHORUS_SUBSCRIBE_BURST ?? value.CHORUS_MAX_SUBSCRIPTIONS;
  if (subscribeBurst < value.CHORUS_MAX_SUBSCRIPTIONS) {
    throw new Error(
      `invalid configuration:\n  CHORUS_SUBSCRIBE_BURST: must be at least CHORUS_MAX_SUBSCRIPTIONS (${value.CHORUS_MAX_SUBSCRIPTIONS}), so that a client can resume all its threads at once`,
    );
  }
  return {
    port: value.PORT,
    host: value.HOST,
    redisUrl: value.REDIS_URL,
    redisPrefix: value.CHORUS_REDIS_PREFIX,
    redisCommandTimeoutMs: value.CHORUS_REDIS_COMMAND_TIMEOUT_MS,
    openai: { apiKey: value.OPENAI_API_KEY, baseURL: value.OPENAI_BASE_URL, model: value.CHORUS_MODEL },
    teamFile: value.CHORUS_TEAM_FILE,
    demoTokensPerSecond: value.CHORUS_DEMO_TOKENS_PER_SECOND,
    auth: {
      secret: value.CHORUS_AUTH_SECRET,
      jwksUrl: value.CHORUS_AUTH_JWKS_URL,
      publicKey: value.CHORUS_AUTH_PUBLIC_KEY,
      issuer: value.CHORUS_AUTH_ISSUER,
      audience: value.CHORUS_AUTH_AUDIENCE,
      allowNoExpiry: value.CHORUS_AUTH_ALLOW_NO_EXP,
      insecure: value.CHORUS_INSECURE,
    },
    maxFrameBytes: value.CHORUS_MAX_FRAME_BYTES,
    leaseMs: value.CHORUS_LEASE_MS,
    drainMs: value.CHORUS_DRAIN_MS,
    historyMaxLength: value.CHORUS_HISTORY_MAXLEN,
    heartbeatMs: value.CHORUS_HEARTBEAT_MS,
    sseHeartbeatMs: value.CHORUS_SSE_HEARTBEAT_MS,
    helloTimeoutMs: value.CHORUS_HELLO_TIMEOUT_MS,
    maxSubscriptions: value.CHORUS_MAX_SUBSCRIPTIONS,
    maxBufferedBytes: value.CHORUS_MAX_BUFFERED_BYTES,
    maxHeldBytes: value.CHORUS_MAX_HELD_BYTES,
    backlogLimit: value.CHORUS_BACKLOG_LIMIT,
    resumeLimit: value.CHORUS_RESUME_LIMIT,
    historyPageLimit: value.CHORUS_HISTORY_PAGE_LIMIT,
    queueMax: value.CHORUS_QUEUE_MAX,
    maxIterations: value.CHORUS_MAX_ITERATIONS,
    modelConcurrency: value.CHORUS_MODEL_CONCURRENCY,
    deltaWindowMs: value.CHORUS_DELTA_WINDOW_MS,
    deltaWindowMaxMs: value.CHORUS_DELTA_WINDOW_MAX_MS,
    speculativeStart: value.CHORUS_SPECULATIVE_START,
    postRate: value.CHORUS_POST_RATE,
    postBurst: value.CHORUS_POST_BURST,
    subscribeRate: value.CHORUS_SUBSCRIBE_RATE,
    subscribeBurst,
    createRate: value.CHORUS_CREATE_RATE,
    createBurst: value.CHORUS_CREATE_BURST,
    requestRate: value.CHORUS_REQUEST_RATE,
    requestBurst: value.CHORUS_REQUEST_BURST,
    corsOrigins: value.CHORUS_CORS_ORIGINS,
    instanceId: value.CHORUS_INSTANCE_ID,
    processes: value.CHORUS_PROCESSES,
    logLevel: value.CHORUS_LOG_LEVEL,
    // `Production` or ` production` is meant as production too: deny by default.
    production: value.NODE_ENV.trim().toLowerCase() === 'production',
  };
}
