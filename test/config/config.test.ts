// loadConfig: defaults, validation that names the variable at fault, and the flag/number parsing
// every setting relies on.
import { describe, expect, it } from 'vitest';
import { configSchema, loadConfig } from '../../src/config.ts';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof Error) return error.message;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      redisUrl: undefined,
      redisPrefix: 'chorus',
      openai: { apiKey: undefined, baseURL: undefined, model: 'gpt-5-mini' },
      teamFile: undefined,
      demoTokensPerSecond: 40,
      auth: {
        secret: undefined,
        jwksUrl: undefined,
        publicKey: undefined,
        issuer: undefined,
        audience: undefined,
        allowNoExpiry: false,
        insecure: false,
      },
      postRate: 5,
      postBurst: 10,
      subscribeRate: 10,
      subscribeBurst: 100,
      createRate: 2,
      createBurst: 10,
      requestRate: 20,
      requestBurst: 40,
      maxHeldBytes: 1_048_576,
      maxFrameBytes: 65_536,
      leaseMs: 10_000,
      historyMaxLength: 0,
      production: false,
    });
    expect(config.leaseMs).toBeLessThanOrEqual(10_000);
  });

  it('reads the environment it is given, not process.env', () => {
    const config = loadConfig({
      PORT: '9090',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CHORUS_REDIS_PREFIX: 'p',
    });
    expect(config.port).toBe(9090);
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.redisPrefix).toBe('p');
  });

  it('treats empty variables as unset', () => {
    const config = loadConfig({ PORT: '', REDIS_URL: '', CHORUS_MODEL: '' });
    expect(config.port).toBe(8080);
    expect(config.redisUrl).toBeUndefined();
    expect(config.openai.model).toBe('gpt-5-mini');
  });

  it('parses flags', () => {
    expect(loadConfig({ CHORUS_INSECURE: '1' }).auth.insecure).toBe(true);
    expect(loadConfig({ CHORUS_INSECURE: 'true' }).auth.insecure).toBe(true);
    expect(loadConfig({ CHORUS_INSECURE: '0' }).auth.insecure).toBe(false);
    expect(loadConfig({ CHORUS_INSECURE: 'false' }).auth.insecure).toBe(false);
    expect(configError({ CHORUS_INSECURE: 'yes' })).toContain('CHORUS_INSECURE');
    expect(loadConfig({}).auth.insecure).toBe(false);
    expect(loadConfig({ CHORUS_INSECURE: '' }).auth.insecure).toBe(false);
    // A flag that is on unless turned off.
    expect(loadConfig({}).speculativeStart).toBe(true);
    expect(loadConfig({ CHORUS_SPECULATIVE_START: '' }).speculativeStart).toBe(true);
    expect(loadConfig({ CHORUS_SPECULATIVE_START: '0' }).speculativeStart).toBe(false);
    expect(loadConfig({ CHORUS_SPECULATIVE_START: 'false' }).speculativeStart).toBe(false);
    expect(loadConfig({ CHORUS_SPECULATIVE_START: 'true' }).speculativeStart).toBe(true);
  });

  it('reads the token checks', () => {
    const config = loadConfig({
      CHORUS_AUTH_ISSUER: 'https://id.example.test/',
      CHORUS_AUTH_AUDIENCE: 'chorus-api',
      CHORUS_AUTH_ALLOW_NO_EXP: '1',
    });
    expect(config.auth).toMatchObject({
      issuer: 'https://id.example.test/',
      audience: 'chorus-api',
      allowNoExpiry: true,
    });
    expect(configError({ CHORUS_AUTH_ALLOW_NO_EXP: 'always' })).toContain('CHORUS_AUTH_ALLOW_NO_EXP');
  });

  it('sizes the subscribe bucket for a client resuming all its threads at once', () => {
    expect(loadConfig({ CHORUS_MAX_SUBSCRIPTIONS: '250' }).subscribeBurst).toBe(250);
    expect(loadConfig({ CHORUS_SUBSCRIBE_BURST: '300' }).subscribeBurst).toBe(300);
    const message = configError({ CHORUS_MAX_SUBSCRIPTIONS: '250', CHORUS_SUBSCRIBE_BURST: '100' });
    expect(message).toMatch(/^invalid configuration:/);
    expect(message).toContain('CHORUS_SUBSCRIBE_BURST');
    expect(message).toContain('CHORUS_MAX_SUBSCRIPTIONS');
    expect(configError({ CHORUS_CREATE_RATE: '-1' })).toContain('CHORUS_CREATE_RATE');
  });

  it('names CHORUS_LOG_LEVEL and CHORUS_AUTH_JWKS_URL when they are not what they must be', () => {
    // A log level pino does not know used to crash with its stack; a JWKS URL that is none said only "Invalid URL".
    expect(configError({ CHORUS_LOG_LEVEL: 'verbose' })).toContain('CHORUS_LOG_LEVEL');
    expect(loadConfig({ CHORUS_LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
    expect(configError({ CHORUS_AUTH_JWKS_URL: 'notaurl' })).toContain('CHORUS_AUTH_JWKS_URL');
    expect(configError({ CHORUS_AUTH_JWKS_URL: 'ftp://id.example/jwks' })).toContain('http:// or https://');
    expect(loadConfig({ CHORUS_AUTH_JWKS_URL: 'https://id.example/jwks.json' }).auth.jwksUrl).toBe(
      'https://id.example/jwks.json',
    );
  });

  it('knows production from NODE_ENV', () => {
    expect(loadConfig({ NODE_ENV: 'production' }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).production).toBe(false);
    // A differently spelt production must not switch authentication off.
    expect(loadConfig({ NODE_ENV: 'Production' }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: ' PRODUCTION ' }).production).toBe(true);
  });

  it('names the variable of a bad PORT', () => {
    const message = configError({ PORT: 'eighty' });
    expect(message).toMatch(/^invalid configuration:/);
    expect(message).toContain('PORT');
    expect(configError({ PORT: '70000' })).toContain('PORT');
    expect(configError({ PORT: '-1' })).toContain('PORT');
    expect(configError({ PORT: '80.5' })).toContain('PORT');
  });

  it('refuses a run lease over 10 s and other out-of-range numbers, naming each variable', () => {
    expect(configError({ CHORUS_LEASE_MS: '20000' })).toContain('CHORUS_LEASE_MS');
    expect(configError({ CHORUS_MAX_FRAME_BYTES: '10' })).toContain('CHORUS_MAX_FRAME_BYTES');
    expect(configError({ CHORUS_DEMO_TOKENS_PER_SECOND: '-5' })).toContain('CHORUS_DEMO_TOKENS_PER_SECOND');
    expect(configError({ CHORUS_HISTORY_PAGE_LIMIT: '5000' })).toContain('CHORUS_HISTORY_PAGE_LIMIT');
  });

  it('reads CHORUS_CORS_ORIGINS: none by default, exact origins or *, and names it for a bad origin', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    expect(loadConfig({ CHORUS_CORS_ORIGINS: '*' }).corsOrigins).toBe('*');
    expect(
      loadConfig({ CHORUS_CORS_ORIGINS: 'https://app.example.com, http://localhost:3000,' }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:3000']);
    for (const bad of [
      'https://app.example.com/',
      'https://app.example.com/path',
      'app.example.com',
      'https://App.example.com',
      'https://app.example.com:443',
      'ftp://files.example.com',
      '*, https://app.example.com',
    ]) {
      const message = configError({ CHORUS_CORS_ORIGINS: bad });
      expect(message, bad).toMatch(/^invalid configuration:\n {2}CHORUS_CORS_ORIGINS: /);
    }
    expect(configError({ CHORUS_CORS_ORIGINS: 'https://app.example.com/' })).toContain(
      '"https://app.example.com/" is not an origin',
    );
  });

  it('lists every invalid variable at once, one per line', () => {
    const message = configError({ PORT: 'x', CHORUS_LEASE_MS: 'y' });
    const lines = message.split('\n').slice(1);
    expect(lines).toHaveLength(2);
    expect(lines.some((line) => line.includes('PORT'))).toBe(true);
    expect(lines.some((line) => line.includes('CHORUS_LEASE_MS'))).toBe(true);
  });

  it('ignores variables it does not know', () => {
    expect(() => loadConfig({ SOMETHING_ELSE: 'x', PATH: '/bin' })).not.toThrow();
  });

  it('uses the CHORUS_ prefix for every setting beyond the fixed names', () => {
    const fixed = new Set(['PORT', 'HOST', 'REDIS_URL', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'NODE_ENV']);
    for (const name of Object.keys(configSchema.shape)) {
      if (!fixed.has(name)) expect(name, `${name} lacks the CHORUS_ prefix`).toMatch(/^CHORUS_/);
    }
  });
});
