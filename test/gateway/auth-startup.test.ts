// Story: an operator starts Chorus in production behind a shared identity provider (a JWKS). Its
// keys sign tokens for every application it serves, so without issuer and audience checks any of
// them would get in: `node src/main.ts` refuses to start until both are set, and says which. With
// a shared secret instead, a short one (guessable offline from any token) is refused the same way.
import { afterEach, describe, expect, it } from 'vitest';
import { spawnServer, type SpawnedServer } from '../support/server.ts';

const JWKS_URL = 'http://127.0.0.1:9/.well-known/jwks.json';

describe('production with a JWKS', () => {
  let running: SpawnedServer | undefined;

  afterEach(async () => {
    running?.kill('SIGKILL');
    await running?.exited;
    running = undefined;
  });

  it.each([
    ['neither issuer nor audience', {}],
    ['no audience', { CHORUS_AUTH_ISSUER: 'https://id.example.test/' }],
    ['no issuer', { CHORUS_AUTH_AUDIENCE: 'chorus-api' }],
  ])('refuses to start with %s, naming both variables', async (_case, extra) => {
    const attempt = spawnServer({ NODE_ENV: 'production', CHORUS_AUTH_JWKS_URL: JWKS_URL, ...extra });
    await expect(attempt).rejects.toThrow(/"code":1\b/);
    await expect(attempt).rejects.toThrow(/CHORUS_AUTH_ISSUER and CHORUS_AUTH_AUDIENCE/);
  });

  it('starts with both set', async () => {
    running = await spawnServer({
      NODE_ENV: 'production',
      CHORUS_AUTH_JWKS_URL: JWKS_URL,
      CHORUS_AUTH_ISSUER: 'https://id.example.test/',
      CHORUS_AUTH_AUDIENCE: 'chorus-api',
    });
    expect(running.port).toBeGreaterThan(0);
  });

  it('still starts a JWKS instance outside production without them', async () => {
    running = await spawnServer({ CHORUS_AUTH_JWKS_URL: JWKS_URL });
    expect(running.port).toBeGreaterThan(0);
  });
});

describe('production with a shared secret', () => {
  let running: SpawnedServer | undefined;

  afterEach(async () => {
    running?.kill('SIGKILL');
    await running?.exited;
    running = undefined;
  });

  it('refuses a secret under 32 bytes, saying how long it is', async () => {
    const attempt = spawnServer({ NODE_ENV: 'production', CHORUS_AUTH_SECRET: 'abc' });
    await expect(attempt).rejects.toThrow(/"code":1\b/);
    await expect(attempt).rejects.toThrow(/CHORUS_AUTH_SECRET is 3 bytes/);
  });

  it('refuses it under a differently spelt NODE_ENV too', async () => {
    const attempt = spawnServer({ NODE_ENV: 'Production', CHORUS_AUTH_SECRET: 'x'.repeat(31) });
    await expect(attempt).rejects.toThrow(/CHORUS_AUTH_SECRET is 31 bytes/);
  });

  it('starts with 32 bytes', async () => {
    running = await spawnServer({ NODE_ENV: 'production', CHORUS_AUTH_SECRET: 'é'.repeat(16) });
    expect(running.port).toBeGreaterThan(0);
  });
});
