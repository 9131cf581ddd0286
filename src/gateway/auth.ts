// Signed tokens (JWT): HS256 with CHORUS_AUTH_SECRET, or RS256/ES256 with a public key or a JWKS
// URL. Claims: `sub` (the author name), `role` (`viewer` | `participant`, default participant),
// `threads` (thread ids the token may use; `*` for any, `prefix*` for a prefix; default any).
// Without any key configured, auth is off (development mode).
import {
  createRemoteJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';

export type Role = 'viewer' | 'participant';

export interface Principal {
  user: string | undefined;
  role: Role;
  threads: readonly string[];
  /** Epoch ms when the token expires (undefined: never). */
  expiresAt: number | undefined;
}

export type AuthResult =
  { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'invalid' | 'expired' };

export interface Authenticator {
  readonly enabled: boolean;
  verify(token: string | undefined): Promise<AuthResult>;
}

export const openAccess: Principal = {
  user: undefined,
  role: 'participant',
  threads: ['*'],
  expiresAt: undefined,
};

export async function createAuthenticator(options: {
  secret?: string | undefined;
  publicKey?: string | undefined;
  jwksUrl?: string | undefined;
}): Promise<Authenticator> {
  let key: Uint8Array | CryptoKey | JWTVerifyGetKey | undefined;
  let algorithms: string[] = [];
  if (options.secret) {
    key = new TextEncoder().encode(options.secret);
    algorithms = ['HS256'];
  } else if (options.publicKey) {
    const pem = options.publicKey.replaceAll('\\n', '\n');
    const algorithm = pem.includes('BEGIN PUBLIC KEY') && /EC|ES/.test(pem) ? 'ES256' : 'RS256';
    key = await importSPKI(pem, algorithm).catch(() =>
      importSPKI(pem, algorithm === 'RS256' ? 'ES256' : 'RS256'),
    );
    algorithms = ['RS256', 'ES256'];
  } else if (options.jwksUrl) {
    key = createRemoteJWKSet(new URL(options.jwksUrl));
    algorithms = ['RS256', 'ES256'];
  }
  if (key === undefined) return { enabled: false, verify: async () => ({ ok: true, principal: openAccess }) };
  const verifyKey = key;
  return {
    enabled: true,
    async verify(token) {
      if (!token) return { ok: false, reason: 'missing' };
      try {
        const { payload } =
          typeof verifyKey === 'function'
            ? await jwtVerify(token, verifyKey, { algorithms })
            : await jwtVerify(token, verifyKey, { algorithms });
        return { ok: true, principal: principalOf(payload) };
      } catch (error) {
        if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
        return { ok: false, reason: 'invalid' };
      }
    },
  };
}

function principalOf(payload: JWTPayload): Principal {
  const role = payload.role === 'viewer' ? 'viewer' : 'participant';
  const threads = Array.isArray(payload.threads)
    ? payload.threads.filter((entry): entry is string => typeof entry === 'string')
    : ['*'];
  return {
    user: typeof payload.sub === 'string' ? payload.sub.slice(0, 64) : undefined,
    role,
    threads,
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  };
}

export function mayAccessThread(principal: Principal, threadId: string): boolean {
  return principal.threads.some((pattern) =>
    pattern === '*'
      ? true
      : pattern.endsWith('*')
        ? threadId.startsWith(pattern.slice(0, -1))
        : pattern === threadId,
  );
}
