// nkeys' KeyPair derives the public key from the seed with pure-JS curve math on every
// getPublicKey() call (about 4 ms here), and signing a user JWT asks for it half a dozen times.
// This keeps the answer; everything else is the library's own key pair.

import type { KeyPair } from '@nats-io/nkeys';

export function withCachedPublicKey(pair: KeyPair): KeyPair {
  const publicKey = pair.getPublicKey();
  const cached: KeyPair = Object.create(pair);
  cached.getPublicKey = () => publicKey;
  return cached;
}
