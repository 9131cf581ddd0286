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
