// Test clients' way to log in with a creds file, signing the server's nonce with Ed25519 from
// node:crypto. nats.js signs with pure-JS curve math, which on a busy 2-core machine, with a few
// hundred clients connecting at once, overran nats-server's 2 s auth timeout ("Authentication
// Timeout"): a failure of the test machine, not of what is tested. Same protocol, same result.

import type { Authenticator } from '@nats-io/transport-node';
import { nativeFromSeed } from '../../src/nats/native-keys.ts';

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
  const pair = nativeFromSeed(seed);
  return (nonce?: string) => ({
    jwt,
    nkey: pair.getPublicKey(),
    sig: nonce ? Buffer.from(pair.sign(new TextEncoder().encode(nonce))).toString('base64') : '',
  });
}
