// Signed tokens (JWT): HS256 with CHORUS_AUTH_SECRET, or RS256/ES256 with a public key or a JWKS
// URL. Without any key configured, auth is off (development mode). With a key it denies by
// default: a token is accepted only when it verifies, has not expired, carries `exp` (unless
// CHORUS_AUTH_ALLOW_NO_EXP), matches CHORUS_AUTH_ISSUER / CHORUS_AUTH_AUDIENCE when they are set,
// and its claims are well formed — `sub` a name, `role` exactly `viewer` or `participant`
// (missing: viewer), `threads` an array of thread ids, `prefix*` patterns or `*`.
import {
  createRemoteJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { nanoid } from 'nanoid';
import { z } from 'zod';
import { RequestError } from '../errors.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { id, MAX_ID } from '../protocol/frames.ts';

export const Role = { viewer: 'viewer', participant: 'participant' } as const;
export type Role = (typeof Role)[keyof typeof Role];

/** Longest `sub` accepted: it becomes `welcome.user` and the author of posts (as `hello.user`). */
export const MAX_SUBJECT_LENGTH = 64;

export interface Principal {
  /** The token's `sub`; undefined only without authentication (then `hello.user` names the user). */
  user: string | undefined;
  role: Role;
  threads: readonly string[];
  /** Epoch ms when the token expires (undefined: never). */
  expiresAt: number | undefined;
}

export const AuthFailure = {
  /** No token in `hello`. */
  missing: 'missing',
  /** The token does not verify, or its claims are refused. */
  invalid: 'invalid',
  /** The token verified but is past its `exp`. */
  expired: 'expired',
  /** The keys could not be fetched (JWKS endpoint down or answering nonsense): retry later. */
  unavailable: 'unavailable',
} as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

export type AuthResult =
  | { ok: true; principal: Principal }
  | {
      ok: false;
      reason: AuthFailure;
      /** Why, safe to show and to log: never the token or a claim's value. */
      detail: string;
      cause?: unknown | undefined;
    };

export interface Authenticator {
  readonly enabled: boolean;
  verify(token: string | undefined): Promise<AuthResult>;
}

export interface AuthOptions {
  secret?: string | undefined;
  publicKey?: string | undefined;
  jwksUrl?: string | undefined;
  /** Required `iss` when set. */
  issuer?: string | undefined;
  /** Required `aud` (one of the token's audiences) when set. */
  audience?: string | undefined;
  /** Accept tokens without `exp` (they never expire). */
  allowNoExpiry?: boolean | undefined;
}

export const openAccess: Principal = {
  user: undefined,
  role: Role.participant,
  threads: ['*'],
  expiresAt: undefined,
};

/** One entry of `threads`: `*`, an exact thread id, or `prefix*` (ids starting with prefix). */
const ThreadPattern = z.union([
  z.literal('*'),
  id,
  z
    .string()
    .endsWith('*')
    .refine((pattern) => id.safeParse(pattern.slice(0, -1)).success),
]);

const Claims = z.object({
  sub: z.string().min(1).max(MAX_SUBJECT_LENGTH),
  role: z.enum([Role.viewer, Role.participant]).default(Role.viewer),
  threads: z.array(ThreadPattern),
});

/** What a refused claim must look like: the refusal's detail. */
const claimRules: Record<keyof z.infer<typeof Claims>, string> = {
  sub: `sub must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`,
  role: 'role must be "viewer" or "participant"',
  threads: 'threads must be an array of thread ids, "prefix*" patterns or "*"',
};

export async function createAuthenticator(options: AuthOptions): Promise<Authenticator> {
  const key = await verificationKey(options);
  if (key === undefined) return { enabled: false, verify: async () => ({ ok: true, principal: openAccess }) };
  const verifyOptions: JWTVerifyOptions = {
    algorithms: key.algorithms,
    requiredClaims: options.allowNoExpiry ? ['sub'] : ['sub', 'exp'],
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };
  return {
    enabled: true,
    async verify(token) {
      if (!token) return { ok: false, reason: AuthFailure.missing, detail: 'no token' };
      let payload: JWTPayload;
      try {
        payload =
          typeof key.key === 'function'
            ? (await jwtVerify(token, key.key, verifyOptions)).payload
            : (await jwtVerify(token, key.key, verifyOptions)).payload;
      } catch (error) {
        return refusal(error);
      }
      return principalOf(payload);
    },
  };
}

interface VerificationKey {
  key: Uint8Array | CryptoKey | JWTVerifyGetKey;
  algorithms: string[];
}

async function verificationKey(options: AuthOptions): Promise<VerificationKey | undefined> {
  if (options.secret) return { key: new TextEncoder().encode(options.secret), algorithms: ['HS256'] };
  if (options.publicKey) {
    const pem = options.publicKey.replaceAll('\\n', '\n');
    for (const algorithm of ['RS256', 'ES256']) {
      const imported = await importSPKI(pem, algorithm).catch(() => undefined);
      if (imported) return { key: imported, algorithms: [algorithm] };
    }
    throw new Error('CHORUS_AUTH_PUBLIC_KEY is neither an RSA (RS256) nor a P-256 (ES256) SPKI public key');
  }
  if (options.jwksUrl) {
    return {
      key: unavailableOnFetchFailure(createRemoteJWKSet(new URL(options.jwksUrl))),
      algorithms: ['RS256', 'ES256'],
    };
  }
  return undefined;
}

/** The keys could not be had: not the token's fault. */
class KeysUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the token keys could not be fetched', { cause });
    this.name = 'KeysUnavailableError';
  }
}

/**
 * Marks the failures of fetching the JWKS (network errors, timeouts, a non-200 answer, a body that
 * is no key set) apart from what is wrong with the token (no key matches its header).
 */
function unavailableOnFetchFailure(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await getKey(header, token);
    } catch (error) {
      const fetchFailure =
        !(error instanceof errors.JOSEError) ||
        error instanceof errors.JWKSTimeout ||
        error instanceof errors.JWKSInvalid ||
        error.constructor === errors.JOSEError;
      throw fetchFailure ? new KeysUnavailableError(error) : error;
    }
  };
}

function refusal(error: unknown): AuthResult {
  if (error instanceof KeysUnavailableError)
    return {
      ok: false,
      reason: AuthFailure.unavailable,
      detail: 'token keys unavailable',
      cause: error.cause,
    };
  if (error instanceof errors.JWTExpired)
    return { ok: false, reason: AuthFailure.expired, detail: 'token expired' };
  // jose's claim messages name the claim, never its value (`missing required "exp" claim`).
  if (error instanceof errors.JWTClaimValidationFailed)
    return { ok: false, reason: AuthFailure.invalid, detail: error.message };
  return { ok: false, reason: AuthFailure.invalid, detail: 'token does not verify' };
}

function principalOf(payload: JWTPayload): AuthResult {
  const claims = Claims.safeParse(payload);
  if (!claims.success) {
    const claim = claims.error.issues[0]?.path[0];
    const detail =
      claim === 'sub' || claim === 'role' || claim === 'threads' ? claimRules[claim] : 'claims are not valid';
    return { ok: false, reason: AuthFailure.invalid, detail };
  }
  return {
    ok: true,
    principal: {
      user: claims.data.sub,
      role: claims.data.role,
      threads: claims.data.threads,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    },
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

export function requireAccess(principal: Principal, threadId: string): void {
  if (!mayAccessThread(principal, threadId)) {
    throw new RequestError(ErrorCode.forbidden, 'this token does not give access to the thread');
  }
}

export function requireParticipant(principal: Principal, threadId: string | undefined): void {
  if (threadId !== undefined) requireAccess(principal, threadId);
  if (principal.role !== 'participant') {
    throw new RequestError(ErrorCode.forbidden, 'viewers cannot do this; a participant token is needed');
  }
}

/** Length of the random part of a thread id the server chooses. */
const NEW_THREAD_ID_LENGTH = 16;

/**
 * A thread id for a create that names none, one the principal may use: random with `*`, else the
 * prefix of the token's first `prefix*` pattern (with room left) and a random rest. A token of exact
 * ids only is `forbidden`: it must name one (a thread it could not open must not be created).
 */
export function newThreadId(principal: Principal): string {
  if (principal.threads.includes('*')) return nanoid(NEW_THREAD_ID_LENGTH);
  const prefix = principal.threads
    .filter((pattern) => pattern.endsWith('*'))
    .map((pattern) => pattern.slice(0, -1))
    .find((candidate) => candidate.length + NEW_THREAD_ID_LENGTH <= MAX_ID);
  if (prefix === undefined) {
    throw new RequestError(
      ErrorCode.forbidden,
      'this token allows no thread id the server could choose; give a threadId it allows',
    );
  }
  return `${prefix}${nanoid(NEW_THREAD_ID_LENGTH)}`;
}
