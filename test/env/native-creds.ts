// Test clients' way to log in with a creds file, signing the server's nonce with Ed25519 from
// node:crypto. nats.js signs with pure-JS curve math, which on a busy 2-core machine, with a few
// hundred clients connecting at once, overran nats-server's 2 s auth timeout ("Authentication
// Timeout"): a failure of the test machine, not of what is tested. Same protocol, same result.

import type { Authenticator } from '@nats-io/transport-node';
import { fromSeed } from '@nats-io/nkeys';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

const BLOCK = /-----BEGIN [A-Z ]+-----\s*(\S+)\s*------END [A-Z ]+------/g;

type Creds = Uint8Array | string;

/**
 * An authenticator for the JWT and seed of `creds`, signing natively. A function is read again at
 * every (re)connect, as nats.js's credsAuthenticator does, so a client follows a renewed file.
 */
export function nativeCredsAuthenticator(creds: Creds | (() => Creds)): Authenticator {
  if (typeof creds !== 'function') {
    const login = loginWith(creds);
    return (nonce?: string) => login(nonce);
  }
  return (nonce?: string) => loginWith(creds())(nonce);
}

function loginWith(creds: Creds) {
  const text = typeof creds === 'string' ? creds : new TextDecoder().decode(creds);
  const [jwt, seed] = [...text.matchAll(BLOCK)].map((match) => match[1] ?? '');
  if (!jwt || !seed) throw new Error('not a NATS creds file (JWT or seed block missing)');
  // The user's public key is the JWT's subject: no curve math to derive it.
  const { sub } = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string };
  const pair = fromSeed(new TextEncoder().encode(seed)) as ReturnType<typeof fromSeed> & { getRawSeed(): Uint8Array };
  const key: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, pair.getRawSeed()]), format: 'der', type: 'pkcs8' });
  return (nonce?: string) => ({
    jwt,
    nkey: sub,
    sig: nonce ? sign(null, Buffer.from(nonce), key).toString('base64') : '',
  });
}
