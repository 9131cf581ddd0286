// Authentication mode at start-up: production refuses to run without it (unless CHORUS_INSECURE=1);
// development mode (no key configured) is said loudly in the log.
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

export function authConfigured(config: Config): boolean {
  return Boolean(config.auth.secret || config.auth.publicKey || config.auth.jwksUrl);
}

/** Throws when the configuration must not start (production without authentication). */
export function checkAuthMode(config: Config, logger: Logger): void {
  // Keys from an identity provider's JWKS sign its tokens for every application it serves: without
  // issuer and audience checks, a token meant for another API would be accepted here.
  if (config.production && config.auth.jwksUrl && (!config.auth.issuer || !config.auth.audience)) {
    throw new Error(
      'NODE_ENV=production with CHORUS_AUTH_JWKS_URL needs CHORUS_AUTH_ISSUER and CHORUS_AUTH_AUDIENCE (otherwise any token of that identity provider, for any API, would be accepted)',
    );
  }
  checkSecretLength(config, logger);
  if (authConfigured(config)) return;
  if (config.production && !config.auth.insecure) {
    throw new Error(
      'NODE_ENV=production without CHORUS_AUTH_SECRET / CHORUS_AUTH_PUBLIC_KEY / CHORUS_AUTH_JWKS_URL; set one, or CHORUS_INSECURE=1',
    );
  }
  logger.warn(
    'DEVELOPMENT MODE: authentication is OFF — anyone can read and post to every thread. Set CHORUS_AUTH_SECRET to enable it.',
  );
}

/** HS256's key is the secret itself: RFC 7518 asks for at least as many bytes as the hash (32). */
export const MIN_SECRET_BYTES = 32;

function checkSecretLength(config: Config, logger: Logger): void {
  const secret = config.auth.secret;
  if (!secret) return;
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes >= MIN_SECRET_BYTES) return;
  const problem = `CHORUS_AUTH_SECRET is ${bytes} bytes; an HS256 secret needs ${MIN_SECRET_BYTES} or more (a short one can be guessed offline from any token)`;
  if (config.production) {
    throw new Error(`NODE_ENV=production: ${problem}. Make one with: openssl rand -base64 32`);
  }
  logger.warn(`${problem}; production refuses to start with it`);
}
