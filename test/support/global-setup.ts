// Vitest global setup: one Redis for the whole run, its URL handed to tests as `inject('redisUrl')`.
// In order: REDIS_URL when set; else a redis-server started on a free port (killed at teardown);
// else a Redis container through testcontainers when Docker is available; else the run fails.
// Tests use a unique key prefix each (test/support/redis.ts) and never flush the shared server.
import type { TestProject } from 'vitest/node';
import { commandOnPath, startRedisServer } from './redis.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared Redis of the test run. */
    redisUrl: string;
    /** The store test servers use unless a test says otherwise (set per vitest project). */
    gatewayStore: 'memory' | 'redis';
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const fromEnvironment = process.env.REDIS_URL;
  if (fromEnvironment) {
    project.provide('redisUrl', fromEnvironment);
    return undefined;
  }
  if (await commandOnPath('redis-server')) {
    const server = await startRedisServer();
    project.provide('redisUrl', server.url);
    return () => server.stop();
  }
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    project.provide('redisUrl', container.getConnectionUrl());
    return async () => {
      await container.stop();
    };
  } catch (error) {
    throw new Error(
      'The tests need Redis: set REDIS_URL=redis://host:port, or install redis-server (it is then ' +
        'started on a free port), or make Docker available (a redis:7 container is started).',
      { cause: error },
    );
  }
}
