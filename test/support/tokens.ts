// Token issuers for the auth tests: each signs JWTs with its own key and says how a Chorus
// instance is told to verify them — HS256 with CHORUS_AUTH_SECRET, RS256 through a JWKS that this
// module serves over HTTP on loopback (CHORUS_AUTH_JWKS_URL), ES256 with a PEM public key
// (CHORUS_AUTH_PUBLIC_KEY). Claims are signed exactly as given, malformed ones included.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type { EnvOverrides } from './server.ts';

export interface TokenIssuer {
  /** For test names: "HS256 secret", "RS256 JWKS", … */
  readonly name: string;
  /** What a Chorus instance needs to verify this issuer's tokens. */
  readonly env: EnvOverrides;
  /** Signs `claims` as they are (nothing added). */
  sign(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

/** A well-formed participant's claims, one hour before expiry; `overrides` with undefined drop a claim. */
export function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = {
    sub: 'ada',
    role: 'participant',
    threads: ['*'],
    exp: Math.floor(Date.now() / 1000) + 3600,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(base).filter(([, value]) => value !== undefined));
}

const encoder = new TextEncoder();

export function hs256Issuer(secret = 'a-test-secret-that-is-long-enough-for-hs256'): TokenIssuer {
  return {
    name: 'HS256 secret',
    env: { CHORUS_AUTH_SECRET: secret },
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(encoder.encode(secret)),
    close: async () => undefined,
  };
}

/** RS256 keys published as a JWKS by an HTTP server on 127.0.0.1 (counting its requests). */
export async function rs256JwksIssuer(): Promise<TokenIssuer & { readonly requests: number }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };
  const body = JSON.stringify({ keys: [jwk] });
  let requests = 0;
  const server: Server = createServer((request, response) => {
    requests += 1;
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name: 'RS256 JWKS',
    env: { CHORUS_AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` },
    get requests() {
      return requests;
    },
    sign: (payload) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' }).sign(privateKey),
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export async function es256PemIssuer(): Promise<TokenIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const pem = await exportSPKI(publicKey);
  return {
    name: 'ES256 public key',
    // As an operator puts a PEM in one environment line: newlines escaped.
    env: { CHORUS_AUTH_PUBLIC_KEY: pem.trim().replaceAll('\n', '\\n') },
    sign: (payload) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256' }).sign(privateKey),
    close: async () => undefined,
  };
}
