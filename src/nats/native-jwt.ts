// Decoding a NATS JWT and checking its signature, as @nats-io/jwt's decode() does, with the
// Ed25519 verification done natively. decode() verifies through nkeys' pure-JS curve math (about
// 8 ms a JWT here) and takes no verifier, and every reconcile reads back the creds it minted.
// General JWT libraries (jose) refuse the NATS algorithm names, so this small part is written by
// hand; the claim types and algorithm names are the library's. Encoding too (encodeJwt): the
// library's encode() is exact but hashes through WebCrypto, a thread-pool round trip per JWT, two
// per auth callout login; this one makes the same bytes synchronously.

import { createHash } from 'node:crypto';
import { Algorithms, type ClaimsData } from '@nats-io/jwt';
import { NKeysError, NKeysErrorCode, Prefix, type KeyPair } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { nativeVerify } from './native-keys.ts';

/** Kinds of public nkey nkeys' fromPublic() takes. */
const PUBLIC_PREFIXES: ReadonlySet<number> = new Set([Prefix.Server, Prefix.Operator, Prefix.Cluster, Prefix.Account, Prefix.User, Prefix.Curve]);

/** A JWT segment: unpadded base64url, nothing else (Buffer's decoder would skip stray characters). */
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * The claims of `jwt` once its issuer's (`iss`) signature checks out. Accepts what decode() accepts:
 * `typ` JWT, `alg` ed25519-nkey (signature over header and payload) or ed25519 (payload only).
 * Throws messages that quote nothing from the JWT.
 */
export function decodeJwt<T>(jwt: string): ClaimsData<T> {
  const segments = jwt.split('.');
  if (segments.length !== 3 || !segments.every((segment) => SEGMENT.test(segment))) {
    throw new Error('not a JWT (three base64url segments)');
  }
  const [header, payload, signature] = segments as [string, string, string];
  const { typ, alg } = parseSegment(header) as { typ?: unknown; alg?: unknown };
  if (typ !== 'JWT' && typ !== 'jwt') throw new Error('not a NATS JWT (typ)');
  if (alg !== Algorithms.v2 && alg !== Algorithms.v1) throw new Error('not a NATS JWT (alg)');
  const claims = parseSegment(payload) as ClaimsData<T>;
  if (typeof claims?.iss !== 'string') throw new Error('JWT has no issuer');
  const signed = new TextEncoder().encode(alg === Algorithms.v2 ? `${header}.${payload}` : payload);
  if (!nativeVerify(claims.iss, signed, Buffer.from(signature, 'base64url'))) {
    throw new Error('JWT signature does not verify');
  }
  return claims;
}

function parseSegment(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new Error('JWT segment is not JSON');
  }
}

/** Claims as the library's encoders build them before encode() adds iss, iat, jti and nats.version. */
export type UnsignedClaims = Record<string, unknown> & { nats: Record<string, unknown> };

/**
 * `claims` signed by `signer` as a v2 (`ed25519-nkey`) NATS JWT, byte for byte what @nats-io/jwt's
 * encode() makes of them at the same second: iss, iat and nats.version are set in the claims (as it
 * does, in place), jti is the base64 SHA-512 of the claims as they then stand, and header, payload
 * and signature are base64url of their Latin-1 text (btoa's, which refuses any wider character).
 * Synchronous: encode() hashes through WebCrypto, a thread-pool round trip per JWT, which the
 * auth callout paid twice per login.
 */
export function encodeJwt(claims: UnsignedClaims, signer: KeyPair, nowMs = Date.now()): string {
  claims.iss = signer.getPublicKey();
  claims.iat = Math.floor(nowMs / 1000);
  claims.nats.version = 2;
  claims.jti = createHash('sha512').update(JSON.stringify(claims)).digest('base64');
  const header = latin1Base64url(JWT_HEADER);
  const payload = latin1Base64url(JSON.stringify(claims));
  const signature = Buffer.from(signer.sign(Buffer.from(`${header}.${payload}`, 'latin1'))).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

const JWT_HEADER = JSON.stringify({ typ: 'JWT', alg: Algorithms.v2 });

function latin1Base64url(text: string): string {
  // btoa's refusal, kept: a wider character has no single byte to stand for it.
  if (/[^\x00-\xff]/.test(text)) throw new Error('JWT text has a character outside Latin-1');
  return Buffer.from(text, 'latin1').toString('base64url');
}

/**
 * The public key `key` as @nats-io/jwt's checkKey() takes it: a valid encoded public nkey (or a key
 * pair) whose kind is one of `kinds` (its first letter). Throws otherwise, quoting nothing of it.
 */
export function checkedPublicKey(key: KeyPair | string, kinds: string): string {
  let publicKey: string;
  if (typeof key === 'string') {
    let raw: Uint8Array;
    try {
      raw = Codec._decode(new TextEncoder().encode(key));
    } catch {
      throw new NKeysError(NKeysErrorCode.InvalidPublicKey);
    }
    if (!PUBLIC_PREFIXES.has(raw[0] ?? -1)) throw new NKeysError(NKeysErrorCode.InvalidPublicKey);
    publicKey = key;
  } else {
    publicKey = key.getPublicKey();
  }
  if (!kinds.includes(publicKey.charAt(0))) throw new Error(`unexpected type ${publicKey.charAt(0)} - wanted ${[...kinds].join(',')}`);
  return publicKey;
}
