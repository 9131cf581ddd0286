// Chooses the store from the configuration: Redis when REDIS_URL is set, else in-memory.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { MemoryStore } from './memory-store.ts';
import type { Store } from './store.ts';

export async function createStoreFromConfig(config: Config, logger: Logger): Promise<Store> {
  if (!config.redisUrl) {
    logger.info('store: in-memory (one process; set REDIS_URL to share threads between instances)');
    return new MemoryStore({ historyMaxLength: config.historyMaxLength, logger });
  }
  throw new Error('REDIS_URL is set but the Redis store is not wired yet');
}
