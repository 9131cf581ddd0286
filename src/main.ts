// Entry point: config → app → listen; SIGTERM/SIGINT → graceful drain, then exit.
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { createStoreFromConfig } from './store/create-store.ts';
import { createTeamsFromConfig } from './teams/create-teams.ts';

const [major] = process.versions.node.split('.').map(Number);
if ((major ?? 0) < 22) {
  console.error(`Chorus needs Node.js 22 or newer; this is ${process.version}.`);
  process.exit(1);
}

const config = loadConfig();
const logger = createLogger({ level: config.logLevel });
const authConfigured = Boolean(config.auth.secret || config.auth.publicKey || config.auth.jwksUrl);
if (!authConfigured) {
  if (config.production && !config.auth.insecure) {
    logger.fatal('NODE_ENV=production without CHORUS_AUTH_SECRET / CHORUS_AUTH_PUBLIC_KEY / CHORUS_AUTH_JWKS_URL; set one, or CHORUS_INSECURE=1');
    process.exit(1);
  }
  logger.warn('DEVELOPMENT MODE: authentication is OFF — anyone can read and post to every thread. Set CHORUS_AUTH_SECRET to enable it.');
}

const store = await createStoreFromConfig(config, logger);
const teams = await createTeamsFromConfig(config, logger);
const app = await createApp({ config, logger, store, teams });
await app.start();

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
