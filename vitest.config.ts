import { defineConfig } from 'vitest/config';

// Two projects: every test once (the gateway stories on the embedded in-memory store), and the
// gateway stories again with every server on Redis, so that both stores carry the whole protocol.
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: { name: 'all', include: ['test/**/*.test.ts'], provide: { gatewayStore: 'memory' } },
      },
      {
        extends: true,
        test: {
          name: 'gateway-on-redis',
          include: ['test/gateway/**/*.test.ts'],
          provide: { gatewayStore: 'redis' },
        },
      },
    ],
  },
});
