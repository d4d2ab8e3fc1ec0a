// Decoding a NATS JWT and checking its signature, as @nats-io/jwt's decode() does, with the
// Ed25519 verification done natively. decode() verifies through nkeys' pure-JS curve math (about
// 8 ms a JWT here) and takes no verifier, and every reconcile reads back the creds it minted.
// General JWT libraries (jose) refuse the NATS algorithm names, so this small part is written by
// hand; the claim types and algorithm names are the library's.

import { Algorithms, type ClaimsData } from '@nats-io/jwt';
import { nativeVerify } from './native-keys.ts';

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
