// Minting a NATS user and reading back what was minted. Pure apart from key generation: the
// caller supplies the signing key, the claims and the clock.

import { fmtCreds, type ClaimsData, type User } from '@nats-io/jwt';
import type { KeyPair } from '@nats-io/nkeys';
import { checkedPublicKey, decodeJwt, encodeJwt, type UnsignedClaims } from './native-jwt.ts';
import { createNativeUser, nativeFromSeed } from './native-keys.ts';

/** The NATS claims of a user JWT this operator mints (the `nats` section, minus bookkeeping). */
export interface UserGrant {
  pub: { allow: string[]; deny: string[] };
  sub: { allow: string[]; deny: string[] };
  /** Responses allowed to requests received: replies per request, and their ttl in nanoseconds. */
  resp?: { max: number; ttl: number };
  subs: number;
  payload: number;
  data: number;
  allowed_connection_types: string[];
  src: string[];
}

/**
 * What a user minted under a scoped signing key carries: tags only. The key's template in the
 * account JWT gives the permissions, and nats-server applies it.
 */
export interface ScopedGrant {
  tags: string[];
}

export type Grant = UserGrant | ScopedGrant;

export const isScoped = (grant: Grant): grant is ScopedGrant => 'tags' in grant;

export interface MintRequest {
  /** JWT `name`, shown by nats-server in connection info; not secret. */
  name: string;
  accountPublicKey: string;
  /** An account signing key listed in the account JWT (scoped for a ScopedGrant), or the account key. */
  signingKey: KeyPair;
  grant: Grant;
  /** Tags besides a scoped grant's (nats-server shows them in its advisories); none if omitted. */
  tags?: string[];
  expiresAt: Date;
}

export interface MintedCredentials {
  userPublicKey: string;
  /** The standard creds file (JWT and seed) that nats clients and the nats CLI read. */
  creds: string;
  /** The JWT's iat and exp, as a reader of the creds file will see them. */
  issuedAt: Date;
  expiresAt: Date;
}

/**
 * A user JWT for the user key `user` (a key pair, or a public key such as the one an auth callout
 * request names), carrying `grant`; signed by the account key or one of its signing keys. The claims
 * are @nats-io/jwt encodeUser()'s, in its order, and so is the JWT (encodeJwt): the library's
 * encoder hashes through WebCrypto, a thread-pool round trip on every callout login.
 */
export function signUserJwt(request: MintRequest, user: KeyPair | string): string {
  const signedByAccountKey = request.signingKey.getPublicKey() === request.accountPublicKey;
  const account = checkedPublicKey(request.accountPublicKey, 'A');
  checkedPublicKey(request.signingKey, 'A');
  const claims: UnsignedClaims = {
    exp: Math.floor(request.expiresAt.getTime() / 1000),
    aud: 'NATS',
    name: request.name,
    sub: checkedPublicKey(user, 'U'),
    // A scoped user's claims are its tags alone, without the library's default limits.
    // Otherwise the library's defaults first, overridden by the grant (its defaultUser()).
    nats: isScoped(request.grant) ? { ...request.grant } : Object.assign<Record<string, unknown>, UserGrant>({ data: -1, payload: -1, subs: -1 }, request.grant),
  };
  const tags = [...new Set([...(isScoped(request.grant) ? request.grant.tags : []), ...(request.tags ?? [])])];
  if (tags.length > 0) claims.nats.tags = tags;
  if (!signedByAccountKey) claims.nats.issuer_account = account;
  claims.nats.type = 'user';
  return encodeJwt(claims, request.signingKey);
}

/** Mints a fresh user: a new nkey every time, so no two issuances share an identity. */
export async function mintUserCredentials(request: MintRequest): Promise<MintedCredentials> {
  const user = createNativeUser();
  const jwt = signUserJwt(request, user);
  const creds = new TextDecoder().decode(fmtCreds(jwt, user));
  // The library stamps iat itself: read it back from the payload we just signed (no verification
  // needed, and none of its cost).
  const { iat, exp } = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat: number; exp: number };
  return { userPublicKey: user.getPublicKey(), creds, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) };
}

/** What a creds file says about itself; nothing secret. */
export interface IssuedCredentials {
  userPublicKey: string;
  /** Account the user belongs to (issuer_account, or the issuer when signed by the account key). */
  accountPublicKey: string;
  /** The key that signed the JWT: the account key or one of its signing keys. */
  signerPublicKey: string;
  issuedAt: Date;
  expiresAt: Date | undefined;
}

const JWT_BLOCK = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/;
const SEED_BLOCK = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*------END USER NKEY SEED------/;

/**
 * Reads a creds file back: the JWT must decode, and the seed must belong to the JWT's subject.
 * Throws a message that quotes nothing from the file.
 */
export function readCredentials(creds: string): IssuedCredentials {
  const jwt = JWT_BLOCK.exec(creds)?.[1];
  const seed = SEED_BLOCK.exec(creds)?.[1];
  if (!jwt || !seed) throw new Error('not a NATS creds file (JWT or seed block missing)');
  let claims: ClaimsData<User>;
  let seedPublicKey: string;
  try {
    claims = decodeJwt<User>(jwt);
    seedPublicKey = nativeFromSeed(seed).getPublicKey();
  } catch {
    throw new Error('creds file holds a JWT or seed that does not decode');
  }
  if (claims.sub !== seedPublicKey) throw new Error('creds file seed does not match its JWT');
  return {
    userPublicKey: claims.sub,
    accountPublicKey: claims.nats.issuer_account ?? claims.iss,
    signerPublicKey: claims.iss,
    issuedAt: new Date(claims.iat * 1000),
    expiresAt: claims.exp ? new Date(claims.exp * 1000) : undefined,
  };
}
