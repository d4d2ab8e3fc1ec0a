// Reading an account JWT and re-signing it with a changed revocation list. Pure: the caller passes
// the time the new JWT is issued at (the JWT library's encoder reads the system clock, so this
// signs on its own, the same way), and every other claim of the JWT (limits, exports, signing
// keys, fields this code does not know) is carried over unchanged.

import { createHash } from 'node:crypto';
import { Algorithms, type Account, type ClaimsData } from '@nats-io/jwt';
import type { KeyPair } from '@nats-io/nkeys';
import { decodeJwt } from './native-jwt.ts';

/** Revoked user public key -> unix seconds: the user's JWTs issued at or before then are revoked. */
export type Revocations = Record<string, number>;

export interface AccountJwtInfo {
  /** The account's public key. */
  subject: string;
  /** The key that signed it: the operator or one of its signing keys. */
  issuer: string;
  /** Unix seconds. */
  issuedAt: number;
  revocations: Revocations;
  /** Signing keys listed in the JWT; scoped ones carry a permission template. */
  signingKeys: { key: string; scoped: boolean }[];
}

type AccountClaims = ClaimsData<Account>;

function decodeAccount(jwt: string): AccountClaims {
  let claims: AccountClaims;
  try {
    claims = decodeJwt<Account>(jwt);
  } catch {
    throw new Error('not a JWT');
  }
  if (claims.nats?.type !== 'account') throw new Error(`a ${String(claims.nats?.type)} JWT, not an account JWT`);
  return claims;
}

/** What an account JWT says; throws an error that quotes nothing from it. */
export function readAccountJwt(jwt: string): AccountJwtInfo {
  const claims = decodeAccount(jwt);
  return {
    subject: claims.sub,
    issuer: claims.iss,
    issuedAt: claims.iat,
    revocations: { ...claims.nats.revocations },
    signingKeys: (claims.nats.signing_keys ?? []).map((entry) =>
      typeof entry === 'string' ? { key: entry, scoped: false } : { key: entry.key, scoped: true },
    ),
  };
}

/**
 * The newest (highest `iat`) of the JWTs that decode as `account`'s account JWT, or undefined.
 * The servers each answer a lookup with their copy; one restarted with an old copy must not win.
 */
export function newestAccountJwt(jwts: readonly string[], account: string): string | undefined {
  let newest: { jwt: string; issuedAt: number } | undefined;
  for (const jwt of jwts) {
    let info: AccountJwtInfo;
    try {
      info = readAccountJwt(jwt);
    } catch {
      continue;
    }
    if (info.subject !== account) continue;
    if (!newest || info.issuedAt > newest.issuedAt) newest = { jwt, issuedAt: info.issuedAt };
  }
  return newest?.jwt;
}

/**
 * `current` with `add` merged in (an existing entry keeps the later of the two times, which
 * revokes more) and the keys in `remove` taken out. Entries of others are left alone.
 */
export function revisedRevocations(
  current: Revocations,
  add: ReadonlyMap<string, number>,
  remove: ReadonlySet<string>,
): Revocations {
  const next: Revocations = {};
  for (const [key, at] of Object.entries(current)) if (!remove.has(key)) next[key] = at;
  for (const [key, at] of add) next[key] = Math.max(next[key] ?? 0, at);
  return next;
}

/** True when both lists hold the same keys with the same times. */
export function sameRevocations(a: Revocations, b: Revocations): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

/**
 * The largest JWT nats-server takes: its JWT library (nats-io/jwt v2, `MaxTokenSize`) refuses to
 * decode a longer one, whatever the servers' max_payload, and a push must also fit in that.
 */
export const MAX_JWT_BYTES = 1024 * 1024;

/**
 * `base` with its revocations replaced by `revocations`, signed by `signer` (an operator signing
 * key) and issued at `issuedAt`. The caller makes sure that is past `base`'s iat, so that servers
 * comparing copies by iat keep the new one.
 */
export function withRevocations(base: string, revocations: Revocations, signer: KeyPair, issuedAt: Date): string {
  const body = revisedClaims(decodeAccount(base), revocations, signer.getPublicKey(), Math.floor(issuedAt.getTime() / 1000));
  // As the library does: the id is a hash of the claims, so that two different JWTs never share it.
  body.jti = createHash('sha512').update(JSON.stringify(body)).digest('base64');
  const payload = `${HEADER}.${base64Url(JSON.stringify(body))}`;
  return `${payload}.${base64Url(signer.sign(new TextEncoder().encode(payload)))}`;
}

/**
 * The length of what withRevocations(base, revocations, ...) returns, for any signer and any time
 * before 2286: a public key, the seconds, the id (a SHA-512 in base64) and the signature (Ed25519)
 * each have a fixed length. Decodes `base` once; the function it returns measures without signing.
 */
export function accountJwtSizer(base: string): (revocations: Revocations) => number {
  const claims = decodeAccount(base);
  return (revocations) => {
    const body = revisedClaims(claims, revocations, ISSUER_STAND_IN, ISSUED_AT_STAND_IN);
    body.jti = JTI_STAND_IN;
    const payloadBytes = Buffer.byteLength(JSON.stringify(body));
    return HEADER.length + 1 + Math.ceil((payloadBytes * 4) / 3) + 1 + SIGNATURE_CHARS;
  };
}

/** The claims of a JWT withRevocations signs, but its id. */
function revisedClaims(claims: AccountClaims, revocations: Revocations, issuer: string, issuedAt: number): Record<string, unknown> {
  const { jti: _previousId, ...rest } = claims;
  const nats = { ...claims.nats, version: 2 };
  if (Object.keys(revocations).length > 0) nats.revocations = revocations;
  else delete nats.revocations;
  return { ...rest, iss: issuer, iat: issuedAt, nats };
}

const base64Url = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
const HEADER = base64Url(JSON.stringify({ typ: 'JWT', alg: Algorithms.v2 }));
/** As long as any public key, time until 2286 and SHA-512 in base64 are. */
const ISSUER_STAND_IN = 'O'.repeat(56);
const ISSUED_AT_STAND_IN = 9_999_999_999;
const JTI_STAND_IN = 'x'.repeat(88);
/** An Ed25519 signature (64 bytes) in base64url. */
const SIGNATURE_CHARS = 86;
