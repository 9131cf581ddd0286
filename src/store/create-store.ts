// Chooses the store from the configuration: Redis when REDIS_URL is set, else in-memory.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import type { Store } from './store.ts';

export async function createStoreFromConfig(config: Config, logger: Logger): Promise<Store> {
  const redisUrl = config.redisUrl;
  if (!redisUrl) {
    logger.info('store: in-memory (one process; set REDIS_URL to share threads between instances)');
    return new MemoryStore({ historyMaxLength: config.historyMaxLength, logger });
  }
  const store = await RedisStore.connect({
    url: redisUrl,
    prefix: config.redisPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    historyMaxLength: config.historyMaxLength,
    logger,
  }).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`REDIS_URL ${withoutPassword(redisUrl)}: ${message}`, { cause: error });
  });
  const warning = await store.checkEvictionPolicy();
  if (warning) {
    const unsafePolicy = !warning.startsWith('could not read');
    if (unsafePolicy && config.production && !config.auth.insecure) {
      await store.close();
      throw new Error(`refusing to start in production: ${warning} (or set CHORUS_INSECURE=1)`);
    }
    logger.warn(`REDIS EVICTION RISK: ${warning}`);
  }
  logger.info({ prefix: config.redisPrefix, historyMaxLength: config.historyMaxLength }, 'store: Redis');
  return store;
}

/** The URL as it may be logged: a password replaced by `***`. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable)';
  }
}
