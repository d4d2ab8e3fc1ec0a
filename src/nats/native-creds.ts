// Logging in to NATS with a creds file, signing the server's nonce with Ed25519 from node:crypto:
// the operator's system client and the tests' clients. nats.js's credsAuthenticator signs with
// pure-JS curve math, about a hundred times slower; with a few hundred test clients connecting at
// once on a busy 2-core machine it overran nats-server's 2 s auth timeout. Same protocol.

import type { Authenticator } from '@nats-io/transport-node';
import { nativeFromSeed } from './native-keys.ts';

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
