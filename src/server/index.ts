// The package's `chorus/server` entry: Chorus embedded in an HTTP server you already have.
//
//   const chorus = await createChorusServer({ env: { REDIS_URL: 'redis://127.0.0.1:6379' } });
//   const server = http.createServer((request, response) => {
//     if (!chorus.handleRequest(request, response)) myRoutes(request, response);
//   });
//   server.on('upgrade', (request, socket, head) => {
//     if (!chorus.handleUpgrade(request, socket, head)) socket.destroy();
//   });
//   // on shutdown: await chorus.close(); server.close();
export { createChorusServer } from './chorus-server.ts';
export type { ChorusServer, ChorusServerOptions } from './chorus-server.ts';
export { createApp } from '../app.ts';
export type { App, AppOptions } from '../app.ts';
export { loadConfig, configSchema } from '../config.ts';
export type { Config } from '../config.ts';
export { createLogger, silentLogger } from '../log.ts';
export type { Logger } from '../log.ts';
export { MemoryStore } from '../store/memory-store.ts';
export { RedisStore } from '../store/redis-store.ts';
export type { Store } from '../store/store.ts';
export { createAuthenticator } from '../gateway/auth.ts';
export type { Authenticator } from '../gateway/auth.ts';
