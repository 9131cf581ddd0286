// Entry point: config → app → listen; SIGTERM/SIGINT → graceful drain, then exit.
import { CircuitBreakerRegistry } from './agents/circuit-breaker.ts';
import { Semaphore } from './agents/concurrency.ts';
import { createApp, type App } from './app.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { createStoreFromConfig } from './store/create-store.ts';
import { StoreConversationState } from './store/store-conversation-state.ts';
import { createTeamsFromConfig } from './teams/create-teams.ts';

const [major] = process.versions.node.split('.').map(Number);
if ((major ?? 0) < 22) {
  console.error(`Chorus needs Node.js 22 or newer; this is ${process.version}.`);
  process.exit(1);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
const logger = createLogger({ level: config.logLevel });
const authConfigured = Boolean(config.auth.secret || config.auth.publicKey || config.auth.jwksUrl);
if (!authConfigured) {
  if (config.production && !config.auth.insecure) {
    logger.fatal(
      'NODE_ENV=production without CHORUS_AUTH_SECRET / CHORUS_AUTH_PUBLIC_KEY / CHORUS_AUTH_JWKS_URL; set one, or CHORUS_INSECURE=1',
    );
    process.exit(1);
  }
  logger.warn(
    'DEVELOPMENT MODE: authentication is OFF — anyone can read and post to every thread. Set CHORUS_AUTH_SECRET to enable it.',
  );
}
// Keys from an identity provider's JWKS sign its tokens for every application it serves: without
// issuer and audience checks, a token meant for another API would be accepted here.
if (config.production && config.auth.jwksUrl && (!config.auth.issuer || !config.auth.audience)) {
  logger.fatal(
    'NODE_ENV=production with CHORUS_AUTH_JWKS_URL needs CHORUS_AUTH_ISSUER and CHORUS_AUTH_AUDIENCE (otherwise any token of that identity provider, for any API, would be accepted)',
  );
  process.exit(1);
}

let app: App;
try {
  const store = await createStoreFromConfig(config, logger);
  const modelConcurrency = new Semaphore(config.modelConcurrency);
  const teams = await createTeamsFromConfig(config, logger, {
    shared: {
      conversationState: new StoreConversationState(store),
      concurrency: modelConcurrency,
      breakers: new CircuitBreakerRegistry(),
    },
  });
  app = await createApp({ config, logger, store, teams, modelConcurrency });
  await app.start();
} catch (error) {
  logger.fatal(error instanceof Error ? error.message : String(error));
  process.exit(1);
}

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  app.shutdown().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
